using System.Net;
using System.Net.Http.Headers;
using Corral.Admin.Tests.Support;

namespace Corral.Admin.Tests;

/// <summary>
/// DNS rebinding and reads beyond loopback: a page whose name an attacker points at the admin address sends its own
/// name in Host and is refused; a listener beyond loopback wants the token for reads as well as changes.
/// </summary>
public sealed class AdminAccessTests
{
    private static async Task<HttpStatusCode> GetAsync(HttpClient http, string path, string? host = null, string? token = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (host is not null) request.Headers.Host = host;
        if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await http.SendAsync(request);
        return response.StatusCode;
    }

    [Theory]
    [InlineData("/api/policy")]
    [InlineData("/api/flows")]
    [InlineData("/api/status")]
    [InlineData("/metrics")]
    [InlineData("/")]
    public async Task A_rebound_name_in_Host_is_refused_and_the_admin_address_localhost_and_listed_names_are_served(string path)
    {
        await using var live = await LiveHarness.StartAsync(adminHosts: ["corral-admin.internal"]);
        var port = live.Admin.EndPoint.Port;
        Assert.Equal(HttpStatusCode.MisdirectedRequest, await GetAsync(live.Http, path, $"attacker.example:{port}"));
        Assert.Equal(HttpStatusCode.MisdirectedRequest, await GetAsync(live.Http, path, $"127.0.0.1.nip.io:{port}"));
        Assert.Equal(HttpStatusCode.MisdirectedRequest, await GetAsync(live.Http, path, $"10.0.0.1:{port}")); // not this server's address
        Assert.Equal(HttpStatusCode.OK, await GetAsync(live.Http, path, $"127.0.0.1:{port}"));
        Assert.Equal(HttpStatusCode.OK, await GetAsync(live.Http, path, $"localhost:{port}"));
        Assert.Equal(HttpStatusCode.OK, await GetAsync(live.Http, path, $"CORRAL-ADMIN.internal:{port}"));
    }

    [Fact]
    public async Task A_rebound_name_cannot_change_the_policy_even_with_the_token()
    {
        await using var live = await LiveHarness.StartAsync();
        using var request = live.Authorized(HttpMethod.Post, "/api/rules/deny-internet/mode", new StringContent("enforce"));
        request.Headers.Host = $"attacker.example:{live.Admin.EndPoint.Port}";
        using var response = await live.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.MisdirectedRequest, response.StatusCode);
        Assert.Contains("mode: watch", File.ReadAllText(live.PolicyPath));
    }

    [Fact]
    public async Task Beyond_loopback_reads_need_the_token_and_probes_and_the_page_do_not()
    {
        // A wildcard listener is not loopback; the test still only connects to 127.0.0.1.
        await using var live = await LiveHarness.StartAsync(adminAddress: IPAddress.Any);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{live.Admin.EndPoint.Port}/"), Timeout = TimeSpan.FromSeconds(30) };
        foreach (var path in new[] { "/api/policy", "/api/flows", "/api/status", "/metrics" })
        {
            Assert.Equal(HttpStatusCode.Unauthorized, await GetAsync(http, path));
            Assert.Equal(HttpStatusCode.Unauthorized, await GetAsync(http, path, token: "wrong-token-0123456789"));
            Assert.Equal(HttpStatusCode.OK, await GetAsync(http, path, token: LiveHarness.Token));
        }
        foreach (var path in new[] { "/healthz", "/readyz", "/", "/dashboard.js" })
            Assert.Equal(HttpStatusCode.OK, await GetAsync(http, path));
    }

    [Fact]
    public async Task On_loopback_reads_stay_open_for_the_dashboard()
    {
        await using var live = await LiveHarness.StartAsync();
        Assert.Equal(HttpStatusCode.OK, await GetAsync(live.Http, "/api/policy"));
        Assert.Equal(HttpStatusCode.OK, await GetAsync(live.Http, "/api/status"));
    }
}

using System.Net;
using System.Text;
using Corral.Admin.Tests.Support;

namespace Corral.Admin.Tests;

/// <summary>Health, metrics, flows, and every refusal: each bad call gets a clear 4xx and leaves the policy's hash as it was.</summary>
public sealed class ApiTests
{
    [Fact]
    public async Task Recent_flows_are_filterable()
    {
        await using var live = await LiveHarness.StartAsync();
        await live.FlowAsync("www.example.test");
        await live.FlowAsync("evil.test");
        await live.FlowAsync("other.test");
        var denied = (await live.GetJsonAsync("/api/flows?action=deny")).GetProperty("flows").EnumerateArray().ToList();
        Assert.Equal(2, denied.Count);
        Assert.Equal("other.test", denied[0].GetProperty("host").GetString()); // newest first
        Assert.False(denied[0].GetProperty("enforced").GetBoolean());
        var byRule = (await live.GetJsonAsync("/api/flows?rule=allow-web")).GetProperty("flows").EnumerateArray().ToList();
        Assert.Single(byRule);
        Assert.Equal("permit", byRule[0].GetProperty("action").GetString());
        Assert.Single((await live.GetJsonAsync("/api/flows?host=EVIL")).GetProperty("flows").EnumerateArray());
        Assert.Single((await live.GetJsonAsync("/api/flows?limit=1")).GetProperty("flows").EnumerateArray());
        using var bad = await live.Http.GetAsync("/api/flows?action=maybe");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
    }

    [Theory]
    [InlineData(null, "missing bearer token")]
    [InlineData("wrong-token-wrong-token-wrong", "wrong bearer token")]
    public async Task A_missing_or_wrong_token_is_401(string? token, string reason)
    {
        await using var live = await LiveHarness.StartAsync();
        var before = live.Hash;
        foreach (var request in new[]
                 {
                     live.Authorized(HttpMethod.Put, "/api/policy", new StringContent("version: 1"), token),
                     live.Authorized(HttpMethod.Post, "/api/rules/deny-internet/mode", new StringContent("enforce"), token),
                 })
        {
            using var response = await live.Http.SendAsync(request);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
            Assert.Contains(reason, await response.Content.ReadAsStringAsync());
        }
        Assert.Equal(before, live.Hash);
        Assert.Equal(LiveHarness.PolicyText, File.ReadAllText(live.PolicyPath));
    }

    [Fact]
    public async Task Without_a_configured_token_changes_are_refused()
    {
        await using var live = await LiveHarness.StartAsync(withToken: false);
        var before = live.Hash;
        using var response = await live.Http.SendAsync(live.Authorized(HttpMethod.Post, "/api/rules/deny-internet/mode", new StringContent("enforce")));
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("no admin token is configured", await response.Content.ReadAsStringAsync());
        Assert.Equal(before, live.Hash);
    }

    [Fact]
    public async Task Bad_input_gets_a_clear_4xx_and_leaves_the_policy_alone()
    {
        await using var live = await LiveHarness.StartAsync();
        var before = live.Hash;

        using (var malformed = await live.Http.SendAsync(live.Authorized(HttpMethod.Put, "/api/policy", new StringContent("version: 1\nrules: [ { name: x, action: maybe } ]\n"))))
        {
            Assert.Equal(HttpStatusCode.UnprocessableEntity, malformed.StatusCode);
            var body = await malformed.Content.ReadAsStringAsync();
            Assert.Contains("corral.yaml:", body);
            Assert.Contains("diagnostics", body);
        }
        using (var notYaml = await live.Http.SendAsync(live.Authorized(HttpMethod.Put, "/api/policy", new StringContent("{{{{ ]]]]"))))
            Assert.Equal(HttpStatusCode.UnprocessableEntity, notYaml.StatusCode);
        using (var unknown = await live.Http.SendAsync(live.Authorized(HttpMethod.Post, "/api/rules/no-such-rule/mode", new StringContent("enforce"))))
        {
            Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
            Assert.Contains("no-such-rule", await unknown.Content.ReadAsStringAsync());
        }
        using (var badMode = await live.Http.SendAsync(live.Authorized(HttpMethod.Post, "/api/rules/deny-internet/mode", new StringContent("{\"mode\":\"sometimes\"}"))))
            Assert.Equal(HttpStatusCode.BadRequest, badMode.StatusCode);
        Assert.Equal(413, await DeclaredHugeBodyStatusAsync(live));
        using (var notUtf8 = await live.Http.SendAsync(live.Authorized(HttpMethod.Put, "/api/policy", new ByteArrayContent([0xff, 0xfe, 0xc3, 0x28]))))
            Assert.Equal(HttpStatusCode.BadRequest, notUtf8.StatusCode);

        Assert.Equal(before, live.Hash);
        Assert.Equal(LiveHarness.PolicyText, File.ReadAllText(live.PolicyPath));
        Assert.Equal(200, await live.FlowAsync("other.test"));
    }

    /// <summary>Declares a 9 MiB body and reads the answer without sending it: the server refuses on the header alone.</summary>
    private static async Task<int> DeclaredHugeBodyStatusAsync(LiveHarness live)
    {
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        await socket.ConnectAsync(live.Admin.EndPoint);
        await using var stream = new System.Net.Sockets.NetworkStream(socket);
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"PUT /api/policy HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {LiveHarness.Token}\r\nContent-Length: {9 * 1024 * 1024}\r\n\r\n"));
        return await LiveHarness.ReadStatusAsync(stream);
    }

    [Fact]
    public async Task An_oversized_chunked_body_is_413()
    {
        await using var live = await LiveHarness.StartAsync();
        var before = live.Hash;
        var content = new StreamContent(new MemoryStream(new byte[9 * 1024 * 1024]));
        using var request = live.Authorized(HttpMethod.Put, "/api/policy", content);
        request.Headers.TransferEncodingChunked = true;
        using var response = await live.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal(before, live.Hash);
    }

    [Fact]
    public async Task A_non_loopback_admin_listener_needs_a_token()
    {
        await using var live = await LiveHarness.StartAsync();
        var e = await Assert.ThrowsAsync<ArgumentException>(() => AdminServer.StartAsync(live.Gateway, live.Reloader,
            new AdminOptions { Listen = new IPEndPoint(IPAddress.Any, 0) }));
        Assert.Contains("not loopback", e.Message);
    }

    [Fact]
    public void A_token_file_others_can_read_is_refused()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, LiveHarness.Token + "\n");
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
            Assert.Contains("chmod 600", Assert.Throws<AdminTokenException>(() => AdminToken.FromFile(path)).Message);
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            Assert.True(AdminToken.FromFile(path).Matches(LiveHarness.Token));
            Assert.False(AdminToken.FromFile(path).Matches(LiveHarness.Token + "x"));
            Assert.Throws<AdminTokenException>(() => AdminToken.FromText("short"));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task The_dashboard_is_served_with_a_content_security_policy()
    {
        await using var live = await LiveHarness.StartAsync();
        using var page = await live.Http.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("script-src 'self'", page.Headers.GetValues("Content-Security-Policy").Single());
        var html = await page.Content.ReadAsStringAsync();
        Assert.Contains("/dashboard.js", html);
        var js = await live.Http.GetStringAsync("/dashboard.js");
        Assert.DoesNotContain("innerHTML", js);
        Assert.Contains("textContent", js);
    }
}

using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Corral.Certificates;
using Corral.Testing;

namespace Corral.Gateway.Tests;

/// <summary>
/// HTTP/2 through the gateway's explicit proxy on a decrypted rule: real clients (curl --http2, HttpClient with h2
/// exact) get h2 from Corral's minted certificate, every stream is decided and recorded like an HTTP/1.1 request, and a
/// denied path or a secret is refused as that stream's own response.
/// </summary>
public sealed class Http2ThroughGatewayTests
{
    [Fact]
    public async Task An_h2_client_through_the_proxy_gets_each_stream_decided_and_recorded()
    {
        using var ca = CertificateAuthority.Create(new CaOptions());
        await using var github = LoopbackUpstream.Start(443, "api.github.com");
        await using var gateway = GatewayHarness.Foundry($"{github.EndPoint.Address} api.github.com\n", interception: new GatewayInterception(ca, [github.Certificate!]));
        var handshakes = 0;
        using var client = H2Client(gateway, ca, () => Interlocked.Increment(ref handshakes));

        using var ok = await client.GetAsync("https://api.github.com/repos/contoso/agent");
        Assert.Equal((HttpStatusCode.OK, HttpVersion.Version20), (ok.StatusCode, ok.Version));
        using var denied = await client.GetAsync("https://api.github.com/repos/someone-else/agent");
        Assert.Equal((HttpStatusCode.Forbidden, HttpVersion.Version20), (denied.StatusCode, denied.Version));
        Assert.Contains("Do not retry", await denied.Content.ReadAsStringAsync());
        var secret = new StringContent("{\"notes\":\"-----BEGIN OPENSSH PRIVATE KEY-----\\nb3BlbnNzaC1rZXktdjEAAAAA\"}", Encoding.UTF8, "application/json");
        using var upload = await client.PostAsync("https://api.github.com/repos/contoso/agent/issues", secret);
        Assert.Equal(HttpStatusCode.Forbidden, upload.StatusCode);
        using var again = await client.GetAsync("https://api.github.com/repos/contoso/agent/pulls");
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal(1, handshakes); // one h2 connection carried all four streams
        lock (github.Requests)
        {
            Assert.DoesNotContain(github.Requests, r => r.Contains("someone-else") || r.StartsWith("POST"));
            Assert.Equal(2, github.Requests.Count);
        }

        var records = await gateway.WaitForRecordsAsync(rs => rs.Count(r => r.GetProperty("event").GetString() == "request") == 4);
        var requests = records.Where(r => r.GetProperty("event").GetString() == "request").ToList();
        Assert.All(requests, r => Assert.True(r.GetProperty("decrypt").GetBoolean()));
        var refused = requests.Single(r => r.GetProperty("url").GetString() == "https://api.github.com/repos/someone-else/agent");
        Assert.Equal("default-deny-internet", refused.GetProperty("rule").GetString());
        Assert.Contains(requests, r => r.TryGetProperty("reason", out var reason) && reason.GetString()!.Contains("private-key"));
    }

    [Fact]
    public async Task An_agents_budget_counts_every_h2_stream_as_it_counts_every_http_1_1_request()
    {
        const string token = "corral-agent-test-h2-budget-0003";
        using var ca = CertificateAuthority.Create(new CaOptions());
        await using var tools = LoopbackUpstream.Start(443, "tools.example.test");
        var yaml = $$"""
            version: 1
            defaultAction: deny
            webGroups:
              tools: { domains: [tools.example.test] }
            agents:
              interpreter: { token-sha256: {{Corral.Policy.Compilation.CompiledAgents.HashOf(token)}}, cidrs: [127.0.0.0/8], budget: { requests-per-minute: 3 } }
            rules:
              - { name: interpreter-tools, priority: 1, source: [interpreter], webGroups: [tools], action: permit, decrypt: allowed }
            """;
        await using var gateway = GatewayHarness.Custom(yaml, $"{tools.EndPoint.Address} tools.example.test\n", interception: new GatewayInterception(ca, [tools.Certificate!]));
        using var client = H2Client(gateway, ca, credentials: new NetworkCredential("interpreter", token));

        // The CONNECT that opened the flow counts (as on HTTP/1.1), then each stream: the third stream is over 3.
        var statuses = new List<(HttpStatusCode, Version)>();
        for (var i = 0; i < 3; i++)
        {
            using var response = await client.GetAsync($"https://tools.example.test/n{i}");
            statuses.Add((response.StatusCode, response.Version));
        }
        Assert.Equal([(HttpStatusCode.OK, HttpVersion.Version20), (HttpStatusCode.OK, HttpVersion.Version20), ((HttpStatusCode)429, HttpVersion.Version20)], statuses);
        lock (tools.Requests) Assert.Equal(2, tools.Requests.Count);
        var records = await gateway.WaitForRecordsAsync(rs => rs.Any(r => r.GetProperty("event").GetString() == "request" && r.TryGetProperty("check", out var c) && c.GetString() == "agent-budget"));
        Assert.All(records.Where(r => r.GetProperty("event").GetString() == "request"), r => Assert.Equal("interpreter", r.GetProperty("agent").GetString()));
    }

    /// <summary>An h2-only client through the explicit proxy that trusts Corral's CA; <paramref name="handshake"/> counts TLS connections.</summary>
    private static HttpClient H2Client(GatewayHarness gateway, CertificateAuthority ca, Action? handshake = null, NetworkCredential? credentials = null) => new(new SocketsHttpHandler
    {
        Proxy = new WebProxy($"http://{gateway.Proxy}") { Credentials = credentials },
        UseProxy = true,
        SslOptions = new SslClientAuthenticationOptions
        {
            RemoteCertificateValidationCallback = (_, cert, _, _) =>
            {
                handshake?.Invoke();
                return new X509Certificate2(cert!).Issuer == ca.Certificate.Subject;
            },
        },
    })
    { Timeout = TimeSpan.FromSeconds(30), DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };

    [Fact]
    public async Task Stop_closes_an_idle_h2_connection_without_waiting_for_the_idle_timeout()
    {
        using var ca = CertificateAuthority.Create(new CaOptions());
        await using var github = LoopbackUpstream.Start(443, "api.github.com");
        var gateway = GatewayHarness.Foundry($"{github.EndPoint.Address} api.github.com\n", interception: new GatewayInterception(ca, [github.Certificate!]));
        await using var _ = gateway;
        using var client = H2Client(gateway, ca);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("https://api.github.com/repos/contoso/agent")).StatusCode);
        Assert.Equal(1, gateway.Server.ActiveConnections);

        var watch = System.Diagnostics.Stopwatch.StartNew();
        await gateway.Server.StopAsync();
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"stop took {watch.Elapsed}"); // idle timeout is 5 min, drain 30 s
        Assert.Equal(0, gateway.Server.ActiveConnections);
    }

    [Fact]
    public async Task Curl_http2_through_the_proxy_is_served_over_h2_and_a_denied_path_refused()
    {
        if (!ProcessRunner.IsInstalled("curl")) Assert.Skip("curl is not installed (scripts/install-test-deps.sh installs it)");
        using var ca = CertificateAuthority.Create(new CaOptions());
        await using var github = LoopbackUpstream.Start(443, "api.github.com");
        await using var gateway = GatewayHarness.Foundry($"{github.EndPoint.Address} api.github.com\n", interception: new GatewayInterception(ca, [github.Certificate!]));
        var caFile = Path.Combine(Path.GetTempPath(), $"corral-h2-ca-{Guid.NewGuid():N}.pem");
        await File.WriteAllTextAsync(caFile, ca.Certificate.ExportCertificatePem());
        try
        {
            string[] Curl(string url) => ["-s", "--http2", "--cacert", caFile, "-x", $"http://{gateway.Proxy}", "-w", "\n%{http_version} %{http_code}", url];
            var ok = await ProcessRunner.RunAsync("curl", Curl("https://api.github.com/repos/contoso/agent"));
            Assert.EndsWith("\n2 200", ok.Stdout.TrimEnd());
            Assert.StartsWith("hello from upstream: GET /repos/contoso/agent", ok.Stdout);
            var denied = await ProcessRunner.RunAsync("curl", Curl("https://api.github.com/repos/someone-else/agent"));
            Assert.EndsWith("\n2 403", denied.Stdout.TrimEnd());
            Assert.Contains("default-deny-internet", denied.Stdout);
            lock (github.Requests) Assert.Single(github.Requests);
        }
        finally
        {
            File.Delete(caFile);
        }
    }
}

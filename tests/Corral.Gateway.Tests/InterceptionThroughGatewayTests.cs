using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Corral.Certificates;
using Corral.Testing;

namespace Corral.Gateway.Tests;

/// <summary>
/// Per-rule decryption through the gateway: decrypt-allowed tool calls are intercepted with a Corral-minted
/// certificate, platform names are spliced (a pinning client still works), and secrets in bodies are denied.
/// </summary>
public sealed class InterceptionThroughGatewayTests
{
    [Fact]
    public async Task Tool_calls_are_intercepted_platform_names_spliced_and_a_private_key_in_a_body_is_denied()
    {
        using var ca = CertificateAuthority.Create(new CaOptions());
        await using var tool = LoopbackUpstream.Start(443, "mcp.contoso.com");
        await using var mcr = LoopbackUpstream.Start(443, "mcr.microsoft.com");
        var hosts = $"{tool.EndPoint.Address} mcp.contoso.com\n{mcr.EndPoint.Address} mcr.microsoft.com\n";
        await using var gateway = GatewayHarness.Foundry(hosts, interception: new GatewayInterception(ca, [tool.Certificate!, mcr.Certificate!]));

        var seen = new Dictionary<string, X509Certificate2>();
        using var client = new HttpClient(new SocketsHttpHandler
        {
            Proxy = new WebProxy($"http://{gateway.Proxy}"),
            UseProxy = true,
            SslOptions = new SslClientAuthenticationOptions
            {
                // The agent trusts Corral's CA, and pins the platform's own certificate for mcr.microsoft.com.
                RemoteCertificateValidationCallback = (sender, cert, _, errors) =>
                {
                    var target = ((SslStream)sender).TargetHostName;
                    var presented = new X509Certificate2(cert!);
                    lock (seen) seen[target] = presented;
                    if (target == "mcr.microsoft.com") return presented.Thumbprint == mcr.Certificate!.Thumbprint;
                    using var chain = new X509Chain { ChainPolicy = { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck } };
                    chain.ChainPolicy.CustomTrustStore.Add(ca.Certificate);
                    return chain.Build(presented) && (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) == SslPolicyErrors.None;
                },
            },
        }) { Timeout = TimeSpan.FromSeconds(30) };

        var hello = await client.GetStringAsync("https://mcp.contoso.com/hello");
        Assert.StartsWith("hello from upstream: GET /hello", hello);
        Assert.Equal(ca.Certificate.Subject, seen["mcp.contoso.com"].Issuer);

        var manifest = await client.GetStringAsync("https://mcr.microsoft.com/v2/");
        Assert.StartsWith("hello from upstream: GET /v2/", manifest);
        Assert.Equal(mcr.Certificate!.Thumbprint, seen["mcr.microsoft.com"].Thumbprint); // the pinned certificate: not decrypted

        var secret = new StringContent("{\"notes\":\"-----BEGIN OPENSSH PRIVATE KEY-----\\nb3BlbnNzaC1rZXktdjEAAAAA\"}", Encoding.UTF8, "application/json");
        var denied = await client.PostAsync("https://mcp.contoso.com/upload", secret);
        Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);
        lock (tool.Requests) Assert.DoesNotContain(tool.Requests, r => r.StartsWith("POST"));

        var records = await gateway.WaitForRecordsAsync(rs =>
            rs.Any(r => r.GetProperty("event").GetString() == "request" && r.TryGetProperty("reason", out var reason) && reason.GetString()!.Contains("private-key")));
        var request = records.First(r => r.GetProperty("event").GetString() == "request" && r.GetProperty("url").GetString() == "https://mcp.contoso.com/hello");
        Assert.True(request.GetProperty("decrypt").GetBoolean());
        Assert.Equal("allow-tool-calls", request.GetProperty("rule").GetString());
        Assert.Equal("GET", request.GetProperty("method").GetString());
        // The request record carries the facts its own verdict was made on: the request's path and the address dialled.
        var facts = request.GetProperty("facts");
        Assert.Equal("/hello", facts.GetProperty("path").GetString());
        Assert.Equal(request.GetProperty("dst").GetString()!.Split(':')[0], Assert.Single(facts.GetProperty("addresses").EnumerateArray()).GetString());
        Assert.True(facts.GetProperty("tls").GetBoolean());
        var refusal = records.First(r => r.GetProperty("event").GetString() == "request" && r.GetProperty("reason").GetString()!.Contains("private-key"));
        Assert.True(refusal.GetProperty("refused").GetBoolean()); // the gateway's own refusal, never taken for a policy verdict
        var platform = records.First(r => r.GetProperty("event").GetString() == "decision" && r.GetProperty("host").GetString() == "mcr.microsoft.com");
        Assert.False(platform.GetProperty("decrypt").GetBoolean());
        Assert.Equal("allow-aca-fqdn", platform.GetProperty("rule").GetString());
        Assert.DoesNotContain(records, r => r.ToString().Contains("b3BlbnNzaC1rZXktdjEAAAAA")); // the value is never logged
    }

    [Fact]
    public async Task A_request_its_URL_filter_does_not_permit_is_recorded_as_the_policys_verdict_and_replays_unchanged()
    {
        using var ca = CertificateAuthority.Create(new CaOptions());
        await using var github = LoopbackUpstream.Start(443, "api.github.com");
        await using var gateway = GatewayHarness.Foundry($"{github.EndPoint.Address} api.github.com\n", interception: new GatewayInterception(ca, [github.Certificate!]));
        using var client = new HttpClient(new SocketsHttpHandler
        {
            Proxy = new WebProxy($"http://{gateway.Proxy}"),
            UseProxy = true,
            SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = (_, cert, _, _) => new X509Certificate2(cert!).Issuer == ca.Certificate.Subject },
        }) { Timeout = TimeSpan.FromSeconds(30) };
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("https://api.github.com/repos/contoso/agent")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await client.GetAsync("https://api.github.com/repos/someone-else/agent")).StatusCode);

        var records = await gateway.WaitForRecordsAsync(rs => rs.Count(r => r.GetProperty("event").GetString() == "request") == 2);
        var denied = records.Single(r => r.GetProperty("event").GetString() == "request" && r.GetProperty("url").GetString() == "https://api.github.com/repos/someone-else/agent");
        // The policy denied it (the URL filter does not permit the path; the catch-all does): its rule is recorded, it is no gateway refusal.
        Assert.Equal("deny", denied.GetProperty("action").GetString());
        Assert.Equal("default-deny-internet", denied.GetProperty("rule").GetString());
        Assert.False(denied.TryGetProperty("refused", out _));
        Assert.Equal("/repos/someone-else/agent", denied.GetProperty("facts").GetProperty("path").GetString());

        var (output, errors) = (new StringWriter(), new StringWriter());
        Assert.Equal(0, Corral.Cli.CorralCommand.Run(["replay", gateway.PolicyPath, "--flows", gateway.FlowLogPath, "--json", "--fail-on", "any", "--public-standin", "127.0.0.0/8"], output, errors));
        var report = System.Text.Json.JsonDocument.Parse(output.ToString()).RootElement;
        Assert.Equal(0, report.GetProperty("changed").GetInt64());
        Assert.Equal(report.GetProperty("records").GetInt64(), report.GetProperty("replayed").GetInt64());
    }

    [Fact]
    public async Task Two_intercepted_client_connections_in_a_row_share_one_upstream_connection_and_both_are_logged()
    {
        using var ca = CertificateAuthority.Create(new CaOptions());
        await using var tool = LoopbackUpstream.Start(443, "mcp.contoso.com");
        await using var gateway = GatewayHarness.Foundry($"{tool.EndPoint.Address} mcp.contoso.com\n", interception: new GatewayInterception(ca, [tool.Certificate!]));
        for (var i = 0; i < 2; i++)
        {
            // A new HttpClient per call: a new client connection (CONNECT, TLS with the minted leaf) each time.
            using var client = new HttpClient(new SocketsHttpHandler
            {
                Proxy = new WebProxy($"http://{gateway.Proxy}"),
                UseProxy = true,
                SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = (_, cert, _, _) => new X509Certificate2(cert!).Issuer == ca.Certificate.Subject },
            }) { Timeout = TimeSpan.FromSeconds(30) };
            Assert.StartsWith($"hello from upstream: GET /call{i}", await client.GetStringAsync($"https://mcp.contoso.com/call{i}"));
            client.Dispose();
            // The close record is written after the interceptor has handed the upstream connection back.
            var closes = i + 1;
            await gateway.WaitForRecordsAsync(rs => rs.Count(r => r.GetProperty("event").GetString() == "close") == closes);
        }
        Assert.Equal(1, tool.Connections);
        var records = await gateway.WaitForRecordsAsync(rs => rs.Count(r => r.GetProperty("event").GetString() == "close") == 2);
        Assert.Equal(["https://mcp.contoso.com/call0", "https://mcp.contoso.com/call1"],
            records.Where(r => r.GetProperty("event").GetString() == "request").Select(r => r.GetProperty("url").GetString()));
        Assert.Equal(2, records.Count(r => r.GetProperty("event").GetString() == "decision"));
    }

    [Fact]
    public async Task Without_a_CA_a_decrypt_allowed_permit_is_spliced()
    {
        await using var tool = LoopbackUpstream.Start(443, "mcp.contoso.com");
        await using var gateway = GatewayHarness.Foundry($"{tool.EndPoint.Address} mcp.contoso.com\n");
        using var client = gateway.Client(tool.Certificate);
        Assert.StartsWith("hello from upstream", await client.GetStringAsync("https://mcp.contoso.com/hello"));
        var records = await gateway.WaitForRecordsAsync(rs => rs.Any(r => r.GetProperty("event").GetString() == "decision"));
        Assert.False(records.First(r => r.GetProperty("event").GetString() == "decision").GetProperty("decrypt").GetBoolean());
    }
}

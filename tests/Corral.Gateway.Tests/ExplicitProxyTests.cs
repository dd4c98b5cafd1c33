using System.Net;
using System.Net.Security;
using System.Text;
using System.Text.Json;
using Corral.Testing;

namespace Corral.Gateway.Tests;

/// <summary>The explicit proxy with the Foundry pack: permits, denials, fronting, rebinding, platform addresses, watch mode.</summary>
public sealed class ExplicitProxyTests
{
    [Fact]
    public async Task Connect_to_a_permitted_tool_name_tunnels_TLS_and_logs_decision_then_close()
    {
        await using var upstream = LoopbackUpstream.Start(443, "mcp.contoso.com");
        await using var gw = GatewayHarness.Foundry($"{upstream.EndPoint.Address} mcp.contoso.com\n");
        string body;
        using (var client = gw.Client(upstream.Certificate))
            body = await client.GetStringAsync("https://mcp.contoso.com/tools/list"); // disposing closes the tunnel

        Assert.Contains("GET /tools/list", body);
        var (decision, close) = await gw.FlowAsync(r => r.GetProperty("host").GetString() == "mcp.contoso.com");
        Assert.Equal("permit", decision.GetProperty("action").GetString());
        Assert.Equal("allow-tool-calls", decision.GetProperty("rule").GetString());
        Assert.Equal(4, decision.GetProperty("priority").GetInt32());
        Assert.True(decision.GetProperty("enforced").GetBoolean());
        Assert.False(decision.GetProperty("decrypt").GetBoolean()); // decrypt: allowed, but no CA: spliced, so not decrypted
        Assert.Equal("CONNECT", decision.GetProperty("method").GetString());
        Assert.Equal($"{upstream.EndPoint.Address}:443", decision.GetProperty("dst").GetString());
        Assert.StartsWith("127.0.0.1:", decision.GetProperty("src").GetString());
        Assert.True(close.GetProperty("bytes_up").GetInt64() > 0);
        Assert.True(close.GetProperty("bytes_down").GetInt64() > 0);
        Assert.True(close.GetProperty("duration_ms").GetDouble() >= 0);
        // The decision is written before the close, and before anything went upstream (it is queued first).
        var records = gw.ReadRecords();
        Assert.True(records.FindIndex(r => r.GetProperty("flow").GetString() == decision.GetProperty("flow").GetString())
                    < records.FindIndex(r => r.GetProperty("event").GetString() == "close" && r.GetProperty("flow").GetString() == decision.GetProperty("flow").GetString()));
    }

    [Fact]
    public async Task Connect_to_a_denied_name_gets_403_with_rule_header_and_json_and_the_upstream_gets_nothing()
    {
        await using var upstream = LoopbackUpstream.Start(443, "exfil.attacker.test");
        await using var gw = GatewayHarness.Foundry($"{upstream.EndPoint.Address} exfil.attacker.test\n");
        using var tcp = await gw.RawAsync();
        var stream = tcp.GetStream();
        await stream.WriteAsync("CONNECT exfil.attacker.test:443 HTTP/1.1\r\nHost: exfil.attacker.test:443\r\n\r\n"u8.ToArray());

        var (status, head, body) = await RawHttp.ReadResponseAsync(stream);

        Assert.Equal(403, status);
        Assert.Contains("X-Corral-Rule: default-deny-internet\r\n", head);
        using var json = JsonDocument.Parse(body);
        Assert.Equal("blocked_by_policy", json.RootElement.GetProperty("error").GetString());
        Assert.Contains("Do not retry it another way", json.RootElement.GetProperty("advice").GetString());
        var (decision, _) = await gw.FlowAsync(r => r.GetProperty("host").GetString() == "exfil.attacker.test");
        Assert.Equal("deny", decision.GetProperty("action").GetString());
        Assert.Equal("default-deny-internet", decision.GetProperty("rule").GetString());
        Assert.Equal(0, upstream.Connections);
        Assert.Equal(0, upstream.BytesReceived);
    }

    [Fact]
    public async Task HttpClient_through_the_proxy_sees_the_403_for_a_denied_https_destination()
    {
        await using var upstream = LoopbackUpstream.Start(443, "pastebin.example.test");
        await using var gw = GatewayHarness.Foundry($"{upstream.EndPoint.Address} pastebin.example.test\n");
        using var client = gw.Client(upstream.Certificate);

        var e = await Assert.ThrowsAsync<HttpRequestException>(() => client.GetStringAsync("https://pastebin.example.test/"));

        Assert.Equal(HttpStatusCode.Forbidden, e.StatusCode);
        Assert.Equal(0, upstream.Connections);
    }

    [Fact]
    public async Task Sni_that_differs_from_the_connect_authority_is_domain_fronting_and_nothing_reaches_the_upstream()
    {
        await using var upstream = LoopbackUpstream.Start(443, "mcp.contoso.com", "c2.attacker.test");
        await using var gw = GatewayHarness.Foundry($"{upstream.EndPoint.Address} mcp.contoso.com c2.attacker.test\n");
        using var tcp = await gw.RawAsync();
        var stream = tcp.GetStream();
        await stream.WriteAsync("CONNECT mcp.contoso.com:443 HTTP/1.1\r\nHost: mcp.contoso.com:443\r\n\r\n"u8.ToArray());
        var (status, _, _) = await RawHttp.ReadResponseAsync(stream);
        Assert.Equal(200, status);

        #pragma warning disable CA5359 // accept any certificate so that the failure asserted below can only be the gateway refusing the tunnel
        using var tls = new SslStream(stream, leaveInnerStreamOpen: true, (_, _, _, _) => true);
        #pragma warning restore CA5359
        await Assert.ThrowsAnyAsync<Exception>(() => tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "c2.attacker.test" }));

        var (decision, _) = await gw.FlowAsync(r => r.GetProperty("reason").GetString()!.Contains("domain fronting"));
        Assert.Equal("deny", decision.GetProperty("action").GetString());
        Assert.Contains("c2.attacker.test", decision.GetProperty("reason").GetString());
        Assert.True(gw.Logs.Contains("domain fronting", Microsoft.Extensions.Logging.LogLevel.Warning));
        Assert.Equal("name-mismatch", decision.GetProperty("check").GetString());
        Assert.Equal(0, upstream.BytesReceived); // dialled before the 200, but not one byte sent
    }

    [Fact]
    public async Task An_allowed_name_that_resolves_to_a_private_address_is_denied_dns_rebinding()
    {
        // login.microsoftonline.com is permitted by allow-aca-fqdn, but the hosts file (the "DNS") points it at 10.x.
        await using var gw = GatewayHarness.Foundry("10.66.0.5 login.microsoftonline.com\n");
        using var tcp = await gw.RawAsync();
        var stream = tcp.GetStream();
        await stream.WriteAsync("CONNECT login.microsoftonline.com:443 HTTP/1.1\r\n\r\n"u8.ToArray());

        var (status, _, body) = await RawHttp.ReadResponseAsync(stream);

        Assert.Equal(403, status);
        var (decision, _) = await gw.FlowAsync(r => r.GetProperty("host").GetString() == "login.microsoftonline.com");
        Assert.Equal("deny", decision.GetProperty("action").GetString());
        Assert.Contains("'allow-aca-fqdn' permits the name but not an internal or platform address", decision.GetProperty("reason").GetString());
        Assert.Contains("blocked_by_policy", body);
    }

    [Theory]
    [InlineData("CONNECT 169.254.169.254:443 HTTP/1.1\r\n\r\n")]
    [InlineData("CONNECT 168.63.129.16:443 HTTP/1.1\r\n\r\n")]
    [InlineData("CONNECT 0xa9fea9fe:443 HTTP/1.1\r\n\r\n")] // 169.254.169.254 spelled in hex
    [InlineData("GET http://169.254.169.254/metadata/identity/oauth2/token HTTP/1.1\r\nHost: 169.254.169.254\r\nMetadata: true\r\n\r\n")]
    [InlineData("CONNECT login.microsoftonline.com:443 HTTP/1.1\r\n\r\n")] // hosts file points the allowed name at the metadata address
    [InlineData("CONNECT mcr.microsoft.com:443 HTTP/1.1\r\n\r\n")] // ... and this one at Azure's platform address
    public async Task Metadata_and_platform_addresses_are_denied_however_they_are_reached(string request)
    {
        await using var gw = GatewayHarness.Foundry("169.254.169.254 login.microsoftonline.com\n168.63.129.16 mcr.microsoft.com\n");
        using var tcp = await gw.RawAsync();
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));

        var (status, head, _) = await RawHttp.ReadResponseAsync(stream);

        Assert.Equal(403, status);
        Assert.Contains("X-Corral-Rule:", head);
        var records = await gw.WaitForRecordsAsync(rs => rs.Any(r => r.GetProperty("event").GetString() == "decision"));
        Assert.All(records.Where(r => r.GetProperty("event").GetString() == "decision"), r => Assert.Equal("deny", r.GetProperty("action").GetString()));
    }

    [Fact]
    public async Task Watch_mode_lets_a_denied_flow_through_and_records_enforced_false()
    {
        await using var upstream = LoopbackUpstream.Start(443, "exfil.attacker.test");
        await using var gw = GatewayHarness.Foundry($"{upstream.EndPoint.Address} exfil.attacker.test\n", watch: true);
        string body;
        using (var client = gw.Client(upstream.Certificate))
            body = await client.GetStringAsync("https://exfil.attacker.test/upload");

        Assert.Contains("GET /upload", body);
        var (decision, close) = await gw.FlowAsync(r => r.GetProperty("host").GetString() == "exfil.attacker.test");
        Assert.Equal("deny", decision.GetProperty("action").GetString());
        Assert.Equal("default-deny-internet", decision.GetProperty("rule").GetString());
        Assert.False(decision.GetProperty("enforced").GetBoolean());
        Assert.Contains("watch mode", decision.GetProperty("reason").GetString());
        Assert.True(close.GetProperty("bytes_down").GetInt64() > 0);
    }

    [Fact]
    public async Task Curl_through_the_proxy_is_permitted_and_denied_as_the_policy_says()
    {
        if (!ProcessRunner.IsInstalled("curl")) Assert.Skip("curl is not installed (scripts/install-test-deps.sh installs it)");
        await using var upstream = LoopbackUpstream.Start(443, "api.github.com", "evil.example.test");
        await using var gw = GatewayHarness.Foundry($"{upstream.EndPoint.Address} api.github.com evil.example.test\n");

        var ok = await ProcessRunner.RunAsync("curl", "-sk", "-x", $"http://{gw.Proxy}", "-o", "/dev/null", "-w", "%{http_code}", "https://api.github.com/repos/contoso/agent");
        var denied = await ProcessRunner.RunAsync("curl", "-sk", "-x", $"http://{gw.Proxy}", "-o", "/dev/null", "-w", "%{http_connect}", "https://evil.example.test/");

        Assert.Equal("200", ok.Stdout.Trim());
        Assert.Equal("403", denied.Stdout.Trim());
        Assert.NotEqual(0, denied.ExitCode);
        Assert.Single(upstream.Requests); // only the permitted request reached the stand-in
    }
}

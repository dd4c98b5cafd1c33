using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Corral.Certificates;

namespace Corral.Lab.Tests;

/// <summary>The lab's stand-in servers and report, on their own (the full lab runs through the gateway).</summary>
public sealed class StandInTests
{
    [Fact]
    public async Task A_TLS_stand_in_serves_with_its_own_certificate_and_counts_every_byte_received()
    {
        using var ca = CertificateAuthority.Create(new CaOptions { CommonName = "Lab Public CA" });
        using var cert = new LeafMinter(ca).Mint(LabNetwork.Mcp.Name);
        await using var server = new StandInServer(new IPEndPoint(LabNetwork.Mcp.Address, 0), cert, McpStandIn.Handle);
        Assert.Equal(0, server.BytesReceived);

        var port = PortOf(server);
        using var client = new TcpClient();
        await client.ConnectAsync(LabNetwork.Mcp.Address, port);
        await using var tls = new SslStream(client.GetStream());
        X509Certificate2? seen = null;
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = LabNetwork.Mcp.Name,
            RemoteCertificateValidationCallback = (_, c, _, _) => { seen = new X509Certificate2(c!); return true; },
        });
        Assert.Equal(cert.Thumbprint, seen!.Thumbprint);
        var body = """{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"search_docs","arguments":{"query":"revenue"}}}""";
        await tls.WriteAsync(Encoding.ASCII.GetBytes($"POST /mcp HTTP/1.1\r\nHost: {LabNetwork.Mcp.Name}\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\n\r\n{body}"));
        var response = await new StreamReader(tls).ReadToEndAsync();
        Assert.StartsWith("HTTP/1.1 200", response);
        var json = response[(response.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..];
        Assert.Equal(McpStandIn.InjectedUrl, McpStandIn.InjectedDestination(json));
        Assert.True(server.BytesReceived > body.Length); // handshake and head counted too
        Assert.Equal("tools/call", JsonDocument.Parse(server.Requests.Single().Body).RootElement.GetProperty("method").GetString());
    }

    [Fact]
    public async Task A_plain_TCP_stand_in_counts_bytes_and_answers_nothing()
    {
        await using var db = new StandInServer(new IPEndPoint(LabNetwork.SpokeDatabase.Address, 0), null, null);
        using (var client = new TcpClient())
        {
            await client.ConnectAsync(LabNetwork.SpokeDatabase.Address, PortOf(db));
            await client.GetStream().WriteAsync(new byte[100]);
        }
        for (var i = 0; i < 100 && db.BytesReceived < 100; i++) await Task.Delay(20);
        Assert.Equal(100, db.BytesReceived);
        Assert.Equal(1, db.Connections);
    }

    [Fact]
    public void MCP_errors_are_JSON_RPC_errors()
    {
        var response = McpStandIn.Handle(new StandInRequest("POST", "/mcp", LabNetwork.Mcp.Name, """{"jsonrpc":"2.0","id":1,"method":"nope"}"""));
        Assert.Equal(-32601, JsonDocument.Parse(response.Body).RootElement.GetProperty("error").GetProperty("code").GetInt32());
        Assert.Equal(404, McpStandIn.Handle(new StandInRequest("GET", "/", LabNetwork.Mcp.Name, "")).Status);
    }

    [Fact]
    public void The_report_renders_the_same_results_as_a_table_JSON_and_Markdown()
    {
        var results = Scenarios.All.Take(2).Select(s => new ScenarioResult(s.Number, s.Id, s.Title, s.Expected, "observed", s.ExpectedRule, s.Number == 2, s.Owasp, 0, s.Number == 1)).ToList();
        var report = new LabReport(DateTimeOffset.UnixEpoch, TimeSpan.FromSeconds(3), "explicit", results, ["transparent mode skipped: no CAP_NET_ADMIN"]);
        Assert.False(report.AllPassed);
        var json = JsonDocument.Parse(report.ToJson()).RootElement;
        Assert.False(json.GetProperty("passed").GetBoolean());
        Assert.Equal("allow-aca-fqdn", json.GetProperty("scenarios")[0].GetProperty("decidingRule").GetString());
        Assert.Equal(0, json.GetProperty("scenarios")[0].GetProperty("bytesAtFarEnd").GetInt64());
        Assert.Contains("| 2 | approved MCP tool call |", report.ToMarkdown());
        Assert.Contains("**FAIL**", report.ToMarkdown());
        Assert.Contains("1/2 scenarios passed", report.ToTable());
    }

    [Fact]
    public void The_hosts_map_names_every_stand_in_and_points_the_rebinding_name_at_the_spoke()
    {
        var hosts = LabNetwork.HostsFile();
        foreach (var s in LabNetwork.HttpsStandIns) Assert.Contains($"{s.Address} {s.Name}", hosts);
        Assert.Contains($"127.0.1.5 {LabNetwork.RebindingName}", hosts);
    }

    private static int PortOf(StandInServer server) => server.LocalEndPoint.Port;
}

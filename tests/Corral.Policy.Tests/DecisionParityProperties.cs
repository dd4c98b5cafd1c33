using System.Net;
using System.Text;
using Corral.Policy.Compilation;
using Corral.Policy.Model;
using CsCheck;

namespace Corral.Policy.Tests;

/// <summary>
/// Properties of the one evaluator over random policies with more than 64 rules and more than 64 web groups (so
/// every bitset takes several words) and random flows: <see cref="CompiledPolicy.Decide"/> agrees with explain, and a
/// final verdict of <see cref="CompiledPolicy.DecideBeforeResolving"/> is never contradicted by any address.
/// Bounded by iteration counts (a few seconds); a failure prints the shrunk policy and flow.
/// </summary>
public sealed class DecisionParityProperties
{
    private const int WebGroupCount = 71;

    // Fixed pools; the generator chooses among them, so every rule can reference every kind of group.
    private static readonly string[] SmartGroups =
    [
        "agents-a: { cidrs: [10.20.1.0/24] }",
        "agents-b: { cidrs: [10.20.2.0/24, \"fd00:20::/64\"] }",
        "spoke: { cidrs: [10.30.0.0/16] }",
        "home-lan: { cidrs: [192.168.0.0/16] }",
        "metadata: { cidrs: [169.254.169.254/32] }",
        "cgnat: { cidrs: [100.64.0.0/10] }",
        "cloud-a: { cidrs: [52.10.1.0/24, 52.10.2.0/24] }",
        "cloud-b: { cidrs: [52.10.3.0/24] }",
        "cloud-v6: { cidrs: [\"2603:10::/32\"] }",
        "dns: { cidrs: [8.8.8.0/24] }",
    ];

    private static readonly string[] BuiltInDestinations = [PolicyDocument.Anywhere, PolicyDocument.PublicInternet];
    private static readonly string[] ThreatGroups = ["threats-a", "threats-b"];
    private const string ThreatFeedA = "52.10.3.7\n2603:10::bad\nevil.example.com\nw3.example.net\n";
    private const string ThreatFeedB = "8.8.8.8\nc2.example.org\n";

    private static readonly IPAddress[] Sources = new[] { "10.20.1.5", "10.20.2.9", "fd00:20::5", "10.99.0.1", "52.10.1.1" }.Select(IPAddress.Parse).ToArray();

    private static readonly string?[] Names =
    [
        null, "svc1.example.com", "svc42.example.com", "svc69.example.com", "a.w3.example.net", "w3.example.net", "b.w7.example.net",
        "x.evil.example.com", "evil.example.com", "api2.example.org", "api4.example.org", "c2.example.org", "x.c2.example.org",
        "unknown.test", "deep.a.w5.example.net",
    ];

    private static readonly IPAddress[] Addresses =
    [
        .. new[]
        {
            "52.10.1.7", "52.10.2.7", "52.10.3.7", "52.10.3.8", "10.30.1.1", "192.168.1.1", "169.254.169.254", "127.0.0.1", "100.64.1.1",
            "2603:10::bad", "2603:10::1", "fd00:20::9", "::ffff:10.30.1.1", "8.8.8.8", "8.8.4.4", "2001:4860::8888", "93.184.216.34",
            "168.63.129.16", "0.0.0.0",
        }.Select(IPAddress.Parse),
    ];

    private static readonly int[] Ports = [443, 80, 8443, 22, 8500];
    private static readonly string?[] Paths = [null, "/v1/x", "/v2/a?q=../../v1", "/v1//x", "/v1/../v2/x", "/v2/%2e%2e/v1/x", "/v1/%2Fx", "/v1/./x", "/v3"];

    private sealed record RuleSpec(int[] Sources, int[] Destinations, int[] WebGroups, int Ports, int Protocol, bool Permit, int Mode, bool RequireTls);

    private sealed record PolicySpec(RuleSpec[] Rules, bool DefaultPermit)
    {
        public override string ToString() => Yaml(this);
    }

    private static readonly Gen<RuleSpec> GenRule = Gen.Select(
        Gen.Int[0, SmartGroups.Length - 1].Array[0, 2],
        Gen.Int[0, BuiltInDestinations.Length + SmartGroups.Length + ThreatGroups.Length - 1].Array[0, 2],
        Gen.Int[0, WebGroupCount - 2].Array[0, 2],
        Gen.Int[0, 4], Gen.Int[0, 3], Gen.Bool, Gen.Int[0, 5], Gen.Int[0, 7],
        (s, d, w, ports, protocol, permit, mode, tls) => new RuleSpec(s, d, w, ports, protocol, permit, mode, tls == 0));

    private static readonly Gen<PolicySpec> GenPolicy = Gen.Select(GenRule.Array[66, 80], Gen.Int[0, 9], (rules, d) => new PolicySpec(rules, d == 0));

    private static readonly Gen<Flow> GenFlow = Gen.Select(
        Gen.Int[0, Sources.Length - 1], Gen.Int[0, Names.Length - 1], Gen.Int[0, Addresses.Length - 1].Array[0, 3],
        Gen.Int[0, Ports.Length - 1], Gen.Int[0, 2], Gen.Int[0, 2], Gen.Int[0, Paths.Length - 1], Gen.Bool,
        (s, n, a, port, protocol, tls, path, assumePublic) => new Flow
        {
            Source = Sources[s], Host = Names[n], Destinations = a.Select(i => Addresses[i]).ToArray(), Port = Ports[port],
            Protocol = (FlowProtocol)protocol, IsTls = tls switch { 0 => null, 1 => true, _ => false }, Path = Paths[path],
            AssumePublicIfUnresolved = assumePublic,
        });

    [Fact]
    public void Generated_policies_use_multi_word_bitsets()
    {
        var spec = GenPolicy.Single();
        var policy = Compile(spec);
        Assert.True(policy.Rules.Count > 64);
        Assert.True(policy.Document.WebGroups.Count + policy.Document.SmartGroups.Count > 64);
        Assert.True(policy.Document.WebGroups.Count > 64);
    }

    [Fact]
    public void Decide_agrees_with_explain_on_random_flows_and_policies_over_64_rules() =>
        Gen.Select(GenPolicy, GenFlow.Array[150]).Sample((spec, flows) =>
        {
            var policy = Compile(spec);
            foreach (var flow in flows)
            {
                var decided = policy.Decide(flow);
                var explained = policy.Explain(flow).Verdict;
                Assert.True(decided == explained, $"Decide {Describe(decided)} but explain {Describe(explained)} for {Describe(flow)}");
            }
        }, iter: 15, threads: 1, print: p => p.Item1 + "\nflows: " + string.Join("; ", p.Item2.Select(Describe)));

    [Fact]
    public void A_final_verdict_before_resolving_is_never_contradicted_by_any_address()
    {
        int finals = 0, resolves = 0;
        Gen.Select(GenPolicy, GenFlow.Array[150]).Sample((spec, flows) =>
        {
            var policy = Compile(spec);
            foreach (var flow in flows)
            {
                var decision = policy.DecideBeforeResolving(flow);
                if (decision.NeedsAddresses) resolves++; else finals++;
                CheckFinalVerdictHolds(policy, flow, decision, anyTransport: false);
                if (flow.Host is { } host)
                    CheckFinalVerdictHolds(policy, flow, policy.DecideNameForAnyConnection(flow.Source, host), anyTransport: true);
            }
        }, iter: 15, threads: 1, print: p => p.Item1 + "\nflows: " + string.Join("; ", p.Item2.Select(Describe)));
        // The property is only worth something if both outcomes occur.
        Assert.True(finals > 100 && resolves > 100, $"{finals} final, {resolves} needing addresses");
    }

    [Fact]
    public void Setting_the_address_only_rules_aside_decides_as_the_policy_compiled_without_them()
    {
        int setAside = 0, compared = 0;
        Gen.Select(GenPolicy, GenFlow.Array[150]).Sample((spec, flows) =>
        {
            var policy = Compile(spec);
            var addressOnly = policy.Rules.Where(r => r.ResolvesEveryName).Select(r => r.Rule).ToHashSet();
            Assert.Equal(policy.Document.Rules.Where(addressOnly.Contains).Select(r => r.Name), policy.Names.AddressOnlyRules);
            if (addressOnly.Count == 0)
            {
                Assert.Null(policy.Names.DecideByNameRules(flows[0]));
                return;
            }
            setAside += addressOnly.Count;
            var without = CompiledPolicy.Compile(policy.Document with { Rules = policy.Document.Rules.Where(r => !addressOnly.Contains(r)).ToArray() }, policy.Options);
            Assert.Empty(without.Names.AddressOnlyRules);
            foreach (var flow in flows.Where(f => f.Host is not null))
            {
                var expected = without.DecideBeforeResolving(flow);
                var actual = policy.Names.DecideByNameRules(flow)!.Value;
                Assert.True(expected.NeedsAddresses == actual.NeedsAddresses && Describe(expected.Verdict) == Describe(actual.Verdict) &&
                            expected.PossibleRule?.Name == actual.PossibleRule?.Name,
                    $"without the address-only rules {Describe(expected.Verdict)} ({expected.NeedsAddresses}), set aside {Describe(actual.Verdict)} ({actual.NeedsAddresses}) for {Describe(flow)}");
                // The resolver's verdict: a name that only address-only rules reach is what the rules that read names refuse.
                var name = policy.Names.Decide(flow.Source, flow.Host!);
                var byName = without.DecideNameForAnyConnection(flow.Source, flow.Host!);
                Assert.Equal(name.AddressOnly, policy.DecideNameForAnyConnection(flow.Source, flow.Host!).NeedsAddresses && !byName.NeedsAddresses);
                compared++;
            }
        }, iter: 15, threads: 1, print: p => p.Item1 + "\nflows: " + string.Join("; ", p.Item2.Select(Describe)));
        Assert.True(setAside > 0 && compared > 100, $"{setAside} rules set aside, {compared} flows compared");
    }

    // Whenever the predicate is final, Decide with any address list (and, where the predicate did not know them,
    // any TLS flag, port and protocol) does not let the flow through; and when the final verdict's rule matches every
    // address, no address gets past it to a later rule (for the connection it was decided for: with any transport the
    // verdict is the one an HTTPS connection would get, and another port may meet another deny).
    private static void CheckFinalVerdictHolds(CompiledPolicy policy, Flow flow, NameDecision decision, bool anyTransport)
    {
        if (decision.NeedsAddresses) return;
        Assert.False(decision.Verdict.LetsThrough, $"a final verdict that lets through: {Describe(decision.Verdict)}");
        var ports = anyTransport ? Ports : [flow.Port];
        var protocols = anyTransport ? [FlowProtocol.Tcp, FlowProtocol.Udp, FlowProtocol.Icmp] : new[] { flow.Protocol };
        var tlsFlags = anyTransport || flow.IsTls is null ? new bool?[] { true, false, null } : [flow.IsTls];
        var addressLists = Addresses.Select(a => new[] { a }).Append(flow.Destinations.ToArray()).Append(Addresses);
        var everyAddress = !anyTransport && decision.Verdict.Rule is { } rule && MatchesEveryAddress(rule, flow.Host);
        foreach (var port in ports)
            foreach (var protocol in protocols)
                foreach (var tls in tlsFlags)
                    foreach (var addresses in addressLists)
                    {
                        var resolved = flow with { Destinations = addresses, Port = port, Protocol = protocol, IsTls = tls, AssumePublicIfUnresolved = false };
                        var verdict = policy.Decide(resolved);
                        Assert.False(verdict.LetsThrough,
                            $"final before resolving ({Describe(decision.Verdict)}) but Decide lets {Describe(resolved)} through: {Describe(verdict)}");
                        if (everyAddress && addresses.Length > 0)
                            Assert.True(verdict.Rule is not null && verdict.Rule.Index <= decision.Verdict.Rule!.Index,
                                $"{Describe(resolved)} got past {decision.Verdict.Rule!.Name}, which matches every address: {Describe(verdict)}");
                    }
    }

    // The rule's destination holds whatever the address: no destination, anywhere, or a threat group listing the name.
    private static bool MatchesEveryAddress(CompiledRule rule, string? host)
    {
        var destinations = rule.Rule.Destination.Select(d => d.Value).ToList();
        if (destinations.Count == 0 || destinations.Contains(PolicyDocument.Anywhere)) return true;
        if (host is null) return false;
        bool Lists(string feed) => feed.Split('\n').Any(entry => entry.Length > 0 && (host == entry || host.EndsWith("." + entry, StringComparison.Ordinal)));
        return (destinations.Contains("threats-a") && Lists(ThreatFeedA)) || (destinations.Contains("threats-b") && Lists(ThreatFeedB));
    }

    private static CompiledPolicy Compile(PolicySpec spec)
    {
        using var temp = new TempPolicy();
        temp.Write("feeds/a.txt", ThreatFeedA);
        temp.Write("feeds/b.txt", ThreatFeedB);
        return temp.Compile(Yaml(spec));
    }

    private static string Yaml(PolicySpec spec)
    {
        var y = new StringBuilder();
        y.Append("version: 1\ndefaultAction: ").Append(spec.DefaultPermit ? "permit" : "deny").Append("\nsmartGroups:\n");
        foreach (var g in SmartGroups) y.Append("  ").Append(g).Append('\n');
        y.Append("webGroups:\n");
        for (var i = 0; i < WebGroupCount; i++)
        {
            // Exact names, wildcards shared by several groups, names that are also threat-listed, and URL filters.
            y.Append($"  web{i}:\n    domains: [svc{i}.example.com, \"*.w{i % 10}.example.net\"");
            if (i % 17 == 0) y.Append(", evil.example.com");
            y.Append(']');
            if (i % 3 == 0) y.Append($"\n    urls: [\"api{i % 5}.example.org/v{i % 2 + 1}/*\"]");
            y.Append('\n');
        }
        y.Append("threatGroups:\n  threats-a: { feeds: [feeds/a.txt] }\n  threats-b: { feeds: [feeds/b.txt] }\nrules:\n");
        var destinations = BuiltInDestinations.Concat(SmartGroups.Select(g => g[..g.IndexOf(':')])).Concat(ThreatGroups).ToArray();
        for (var i = 0; i < spec.Rules.Length; i++)
        {
            var r = spec.Rules[i];
            y.Append($"  - name: r{i}\n    priority: {i + 1}\n");
            if (r.Sources.Length > 0) y.Append("    source: [").Append(string.Join(", ", r.Sources.Distinct().Select(s => SmartGroups[s][..SmartGroups[s].IndexOf(':')]))).Append("]\n");
            if (r.Destinations.Length > 0) y.Append("    destination: [").Append(string.Join(", ", r.Destinations.Distinct().Select(d => destinations[d]))).Append("]\n");
            // The loader's rules: only decrypting permits use groups with URL filters; decryption and requireTls need TCP.
            var decrypt = r.Permit && (r.WebGroups.Length > 0 || r.Mode == 1);
            if (r.WebGroups.Length > 0)
                y.Append("    webGroups: [").Append(string.Join(", ", r.WebGroups.Select(w => r.Permit || w % 3 != 0 ? w : w + 1).Distinct().Select(w => $"web{w}"))).Append("]\n");
            y.Append("    ports: ").Append(r.Ports switch { 0 => "[443]", 1 => "[80, 443]", 2 => "[\"8000-9000\"]", 3 => "[22]", _ => "[]" }).Append('\n');
            if (r.WebGroups.Length == 0)
                y.Append("    protocol: ").Append(r.Protocol switch { 0 => "any", 1 => "tcp", 2 when !decrypt && !r.RequireTls => "udp", 3 when !decrypt && !r.RequireTls && r.Ports == 4 => "icmp", _ => "tcp" }).Append('\n');
            y.Append("    action: ").Append(r.Permit ? "permit" : "deny").Append('\n');
            if (r.Mode == 0) y.Append("    mode: watch\n");
            if (r.RequireTls) y.Append("    requireTls: true\n");
            if (decrypt) y.Append("    decrypt: allowed\n");
        }
        return y.ToString();
    }

    private static string Describe(Flow f) =>
        $"{f.Source} -> {f.Host ?? "-"} [{string.Join(",", f.Destinations)}{(f.AssumePublicIfUnresolved ? ", assume public" : "")}]:{f.Port} " +
        $"{f.Protocol} tls={f.IsTls?.ToString() ?? "?"} path={f.Path ?? "-"}";

    private static string Describe(Verdict v) =>
        $"{v.Action} {v.Rule?.Name ?? "(default)"} enforced={v.Enforced} {v.Reason} address={v.AddressIndex} pending={v.UrlFiltersPending} guard={v.GuardSkippedRule?.Name ?? "-"}";
}

using System.Globalization;
using System.Net;
using Corral.Policy.Compilation;
using Corral.Policy.Model;

namespace Corral.Benchmarks;

/// <summary>The big policy compiled, and flows of each kind whose verdicts are checked once at set-up.</summary>
internal sealed class BigPolicyFixture
{
    public CompiledPolicy Policy { get; }
    public Flow PermitExact { get; }
    public Flow PermitWildcard { get; }
    public Flow DenyUnknownHost { get; }
    public Flow DenyThreatIp { get; }
    public Flow DenyPublicIp { get; }
    public Flow MultiAddress { get; }

    /// <summary>Many different flows of all kinds, so lookups miss caches as real traffic does.</summary>
    public Flow[] Mixed { get; }

    /// <summary>The same flows grouped by kind, for the rough per-kind figures of <c>quick-decide</c>.</summary>
    public (string Kind, Flow[] Flows)[] MixedByKind { get; }

    public BigPolicyFixture(int mixedCount = 4096)
    {
        var samples = BigPolicy.Ensure();
        Policy = CompiledPolicy.Compile(BigPolicy.Load());
        var random = new Random(BigPolicy.Seed + 1);
        var agent = IPAddress.Parse("10.20.3.4");

        // Public addresses the feed does not cover, found by asking the policy itself.
        var clean = new List<IPAddress>();
        while (clean.Count < 256)
        {
            var candidate = BigPolicy.ToAddress((uint)random.NextInt64(1L << 32));
            var v = Policy.Decide(new Flow { Source = agent, Destinations = [candidate], Port = 443 });
            if (v.Rule?.Name == "default-deny-internet") clean.Add(candidate);
        }
        IPAddress Clean() => clean[random.Next(clean.Count)];
        IPAddress Threat() => BigPolicy.ToAddress(samples.ThreatHosts[random.Next(samples.ThreatHosts.Length)]);

        Flow Exact() => new() { Source = agent, Host = samples.ExactNames[random.Next(samples.ExactNames.Length)], Destinations = [Clean()], Port = 443, IsTls = true };
        Flow Wild() => new() { Source = agent, Host = "x" + random.Next(1000) + "." + samples.WildcardSuffixes[random.Next(samples.WildcardSuffixes.Length)], Destinations = [Clean()], Port = 443, IsTls = true };
        Flow Unknown() => new() { Source = agent, Host = "host" + random.Next(1_000_000) + ".unlisted-" + random.Next(1000) + ".com", Destinations = [Clean()], Port = 443, IsTls = true };
        Flow ThreatIp() => new() { Source = agent, Destinations = [Threat()], Port = 443 };
        Flow PublicIp() => new() { Source = agent, Destinations = [Clean()], Port = 443 };
        Flow Multi() => new()
        {
            Source = agent, Host = samples.ExactNames[random.Next(samples.ExactNames.Length)], Port = 443, IsTls = true,
            Destinations = [Threat(), IPAddress.Parse("10.30.1.1"), Threat(), Clean()],
        };

        PermitExact = Exact(); PermitWildcard = Wild(); DenyUnknownHost = Unknown();
        DenyThreatIp = ThreatIp(); DenyPublicIp = PublicIp(); MultiAddress = Multi();
        CheckPermitWeb(PermitExact, 0); CheckPermitWeb(PermitWildcard, 0);
        Check.Verdict(Policy.Decide(DenyUnknownHost), DenyUnknownHost, "default-deny-internet", RuleAction.Deny);
        Check.Verdict(Policy.Decide(DenyThreatIp), DenyThreatIp, "deny-threat-intel", RuleAction.Deny);
        Check.Verdict(Policy.Decide(DenyPublicIp), DenyPublicIp, "default-deny-internet", RuleAction.Deny);
        CheckPermitWeb(MultiAddress, 3);

        (string, Func<Flow>)[] kinds = [("exact", Exact), ("wildcard", Wild), ("unknown", Unknown), ("threat-ip", ThreatIp), ("public-ip", PublicIp), ("multi", Multi)];
        Mixed = new Flow[mixedCount];
        for (var i = 0; i < Mixed.Length; i++) Mixed[i] = kinds[i % kinds.Length].Item2();
        MixedByKind = kinds.Select((k, i) => (k.Item1, Mixed.Where((_, j) => j % kinds.Length == i).ToArray())).ToArray();
        random.Shuffle(Mixed);
    }

    private void CheckPermitWeb(in Flow flow, int addressIndex)
    {
        var v = Policy.Decide(flow);
        if (v.Action != RuleAction.Permit || v.Rule?.Name.StartsWith("allow-web-", StringComparison.Ordinal) != true || v.AddressIndex != addressIndex)
            throw new InvalidOperationException($"benchmark flow {flow.Host} decided {v.Action} by '{v.Rule?.Name}' at {v.AddressIndex}; expected a web permit at {addressIndex}");
    }

    public static string Describe(long bytes) => (bytes / (1024.0 * 1024.0)).ToString("F1", CultureInfo.InvariantCulture) + " MiB";
}

using System.Net;
using BenchmarkDotNet.Attributes;
using Corral.Policy.Compilation;

namespace Corral.Benchmarks;

/// <summary>
/// <see cref="CompiledPolicy.DecideBeforeResolving"/> on the Foundry pack: what the gateway pays before each DNS query.
/// A final verdict costs a second, address-known walk (the verdict a public address would get); a name that needs its
/// addresses stops at the first rule that could let it through.
/// </summary>
[MemoryDiagnoser, MedianColumn, MinColumn]
public class FoundryBeforeResolvingBenchmarks
{
    private CompiledPolicy _policy = null!;
    private Flow _threatName, _unknownName, _toolName;
    private IPAddress _agent = IPAddress.None;

    [GlobalSetup]
    public void Setup()
    {
        _policy = new FoundryFixture().Policy;
        _agent = IPAddress.Parse("10.20.1.5");
        _threatName = new Flow { Source = _agent, Host = "x.evil-c2.example", Port = 443, IsTls = true };
        _unknownName = new Flow { Source = _agent, Host = "secret-abc123.attacker.example", Port = 443, IsTls = true };
        _toolName = new Flow { Source = _agent, Host = "api.github.com", Port = 443, IsTls = true };
        Expect(_policy.DecideBeforeResolving(_threatName), needsAddresses: false, "deny-threat-intel");
        Expect(_policy.DecideBeforeResolving(_unknownName), needsAddresses: false, "default-deny-internet");
        Expect(_policy.DecideBeforeResolving(_toolName), needsAddresses: true, "allow-tool-calls");
    }

    [Benchmark] public NameDecision BeforeResolving_ThreatName() => _policy.DecideBeforeResolving(_threatName);
    [Benchmark] public NameDecision BeforeResolving_UnknownName() => _policy.DecideBeforeResolving(_unknownName);
    [Benchmark] public NameDecision BeforeResolving_PermittedName() => _policy.DecideBeforeResolving(_toolName);
    [Benchmark] public NameDecision AnyConnection_UnknownName() => _policy.DecideNameForAnyConnection(_agent, "secret-abc123.attacker.example");

    private static void Expect(NameDecision decision, bool needsAddresses, string rule)
    {
        var named = needsAddresses ? decision.PossibleRule?.Name : decision.Verdict.Rule?.Name;
        if (decision.NeedsAddresses != needsAddresses || named != rule)
            throw new InvalidOperationException($"before resolving: needs addresses {decision.NeedsAddresses}, rule '{named}'; expected {needsAddresses}, '{rule}'");
    }
}

using BenchmarkDotNet.Attributes;
using Corral.Policy.Compilation;

namespace Corral.Benchmarks;

/// <summary>
/// Item 9(a): one decision of the Azure Foundry reference pack per flow kind. Target: ≤ 100 ns and zero bytes
/// allocated per decision. <see cref="Decide_Mix"/> decides all six kinds in turn and reports the mean per decision.
/// </summary>
[MemoryDiagnoser, MedianColumn, MinColumn]
public class FoundryDecideBenchmarks
{
    private CompiledPolicy _policy = null!;
    private Flow _platform, _tool, _unknown, _eastWest, _threat, _multi;
    private Flow[] _mix = [];

    [GlobalSetup]
    public void Setup()
    {
        var f = new FoundryFixture();
        _policy = f.Policy;
        (_platform, _tool, _unknown, _eastWest, _threat, _multi) =
            (f.PermitPlatformName, f.PermitToolCall, f.DenyUnknownHost, f.DenyEastWest, f.DenyThreatIp, f.MultiAddress);
        _mix = f.Mix;
    }

    [Benchmark] public Verdict Decide_PermitPlatformName() => _policy.Decide(_platform);
    [Benchmark] public Verdict Decide_PermitToolCall() => _policy.Decide(_tool);
    [Benchmark] public Verdict Decide_DenyUnknownHost() => _policy.Decide(_unknown);
    [Benchmark] public Verdict Decide_DenyEastWestIp() => _policy.Decide(_eastWest);
    [Benchmark] public Verdict Decide_DenyThreatIp() => _policy.Decide(_threat);
    [Benchmark] public Verdict Decide_MultiAddress() => _policy.Decide(_multi);

    [Benchmark(OperationsPerInvoke = 6)]
    public int Decide_Mix()
    {
        var permits = 0;
        foreach (ref readonly var flow in _mix.AsSpan())
            if (_policy.Decide(flow).Action == Corral.Policy.Model.RuleAction.Permit) permits++;
        return permits;
    }
}

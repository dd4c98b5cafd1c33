using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using Corral.Policy.Compilation;
using Corral.Policy.Model;

namespace Corral.Benchmarks;

/// <summary>
/// Item 9(b): decisions against the generated policy (100,000 domains, 1,000,000 threat entries). Target ≤ 1 µs per
/// decision. The single-flow benchmarks repeat one flow (caches warm); <see cref="BigDecide_Mixed"/> walks 4,096 different
/// flows of all kinds so address and name lookups miss caches as real traffic does, and reports the mean per decision.
/// </summary>
[MemoryDiagnoser, MedianColumn, MinColumn]
public class BigPolicyDecideBenchmarks
{
    private const int MixedCount = 4096;
    private CompiledPolicy _policy = null!;
    private Flow _exact, _wildcard, _unknown, _threat, _public, _multi;
    private Flow[] _mixed = [];

    [GlobalSetup]
    public void Setup()
    {
        var f = new BigPolicyFixture(MixedCount);
        _policy = f.Policy;
        (_exact, _wildcard, _unknown, _threat, _public, _multi) =
            (f.PermitExact, f.PermitWildcard, f.DenyUnknownHost, f.DenyThreatIp, f.DenyPublicIp, f.MultiAddress);
        _mixed = f.Mixed;
    }

    [Benchmark] public Verdict BigDecide_PermitExactName() => _policy.Decide(_exact);
    [Benchmark] public Verdict BigDecide_PermitWildcardName() => _policy.Decide(_wildcard);
    [Benchmark] public Verdict BigDecide_DenyUnknownHost() => _policy.Decide(_unknown);
    [Benchmark] public Verdict BigDecide_DenyThreatIp() => _policy.Decide(_threat);
    [Benchmark] public Verdict BigDecide_DenyUnlistedPublicIp() => _policy.Decide(_public);
    [Benchmark] public Verdict BigDecide_MultiAddress() => _policy.Decide(_multi);

    [Benchmark(OperationsPerInvoke = MixedCount)]
    public int BigDecide_Mixed()
    {
        var permits = 0;
        foreach (ref readonly var flow in _mixed.AsSpan())
            if (_policy.Decide(flow).Action == RuleAction.Permit) permits++;
        return permits;
    }
}

/// <summary>
/// Item 9(b): compile time. Each invocation takes about a second, so this uses BenchmarkDotNet's monitoring strategy
/// (no pilot, a few measured iterations) rather than microbenchmark statistics. The memory diagnoser reports the bytes
/// allocated by one load+compile; the retained size and working set come from <c>compile-stats</c>.
/// </summary>
[MemoryDiagnoser, MedianColumn, MinColumn]
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 1, iterationCount: 5)]
public class BigPolicyCompileBenchmarks
{
    private PolicyDocument _document = null!;

    [GlobalSetup]
    public void Setup()
    {
        BigPolicy.Ensure();
        _document = BigPolicy.Load();
    }

    /// <summary>Reads corral.yaml and the 1,000,000-line feed, validates, and compiles: what the CLI and a reload do.</summary>
    [Benchmark] public CompiledPolicy BigCompile_LoadAndCompileFromFiles() => CompiledPolicy.Compile(BigPolicy.Load());

    /// <summary>Compiles an already-loaded document: the compiler alone.</summary>
    [Benchmark] public CompiledPolicy BigCompile_CompileLoadedDocument() => CompiledPolicy.Compile(_document);
}

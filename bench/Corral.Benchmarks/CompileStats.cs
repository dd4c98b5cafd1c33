using System.Diagnostics;
using System.Globalization;
using System.Runtime;
using Corral.Policy.Compilation;
using Corral.Policy.Model;

namespace Corral.Benchmarks;

/// <summary>
/// <c>compile-stats</c>: loads and compiles the big generated policy several times in this process and prints the
/// median times and the memory, without BenchmarkDotNet (whose per-invocation statistics do not suit second-long work
/// and which cannot report retained heap or working set).
///
/// How memory is measured, per run:
/// <list type="bullet">
/// <item>retained heap: <see cref="GC.GetTotalMemory(bool)"/> with a forced full collection before the load and after
/// the compile, while the document and the compiled policy are still referenced; the difference is the managed heap
/// the loaded document plus the compiled policy keep alive (what a running gateway holds, the document included
/// because <see cref="CompiledPolicy.Document"/> references it). The compiled policy alone is measured the same way
/// around a compile of an already-loaded document.</item>
/// <item>allocated: <see cref="GC.GetTotalAllocatedBytes(bool)"/> difference: every byte the load+compile allocated,
/// garbage included.</item>
/// <item>working set: <see cref="Process.WorkingSet64"/> after the run with both objects alive, and the process's
/// peak working set over all runs (what the OS saw, runtime and JIT included).</item>
/// </list>
/// </summary>
internal static class CompileStats
{
    public static int Run(int runs)
    {
        Console.WriteLine($"Corral policy engine compile-stats: {runs} runs, .NET {Environment.Version}, {Environment.ProcessorCount} CPUs, " +
                          $"{(GCSettings.IsServerGC ? "server" : "workstation")} GC{(GCSettings.LatencyMode == GCLatencyMode.Interactive ? " (concurrent)" : "")}");
        var sw = Stopwatch.StartNew();
        var samples = BigPolicy.Ensure();
        Console.WriteLine($"generated/verified files in {sw.Elapsed.TotalSeconds:F1} s: {BigPolicy.PolicyPath} ({new FileInfo(BigPolicy.PolicyPath).Length / 1024} KiB), " +
                          $"{BigPolicy.FeedPath} ({new FileInfo(BigPolicy.FeedPath).Length / 1024} KiB)");
        Console.WriteLine($"  {BigPolicy.DomainCount:N0} domains ({samples.ExactNames.Length:N0} exact, {samples.WildcardSuffixes.Length:N0} wildcard) in {BigPolicy.WebGroupCount} web groups; {BigPolicy.ThreatEntryCount:N0} threat entries");
        Console.WriteLine();
        Console.WriteLine("run  load(ms)  compile(ms)  load+compile(ms)  compile-only(ms)  retained doc+policy  retained policy  allocated  working set");

        var load = new List<double>(); var compile = new List<double>(); var total = new List<double>(); var compileOnly = new List<double>();
        var retained = new List<long>(); var retainedPolicy = new List<long>(); var allocated = new List<long>(); var workingSets = new List<long>();
        long lookupBytes = 0;
        for (var run = 1; run <= runs; run++)
        {
            var m = MeasureOnce();
            lookupBytes = m.LookupBytes;
            load.Add(m.LoadMs); compile.Add(m.CompileMs); total.Add(m.LoadMs + m.CompileMs); compileOnly.Add(m.CompileOnlyMs);
            retained.Add(m.Retained); retainedPolicy.Add(m.RetainedPolicy); allocated.Add(m.Allocated); workingSets.Add(m.WorkingSet);
            Console.WriteLine($"{run,3}  {m.LoadMs,8:F0}  {m.CompileMs,11:F0}  {m.LoadMs + m.CompileMs,16:F0}  {m.CompileOnlyMs,16:F0}  {Mib(m.Retained),19}  {Mib(m.RetainedPolicy),15}  {Mib(m.Allocated),9}  {Mib(m.WorkingSet),11}");
        }

        var peak = Process.GetCurrentProcess().PeakWorkingSet64;
        // A rough decision figure without BenchmarkDotNet, to sanity-check the BDN results.
        var quick = QuickDecide();

        Console.WriteLine();
        Console.WriteLine($"median over {runs} runs (run 1 includes JIT: it is what a fresh `corral check` pays):");
        Console.WriteLine($"  load from files      {Median(load),8:F0} ms");
        Console.WriteLine($"  compile              {Median(compile),8:F0} ms");
        Console.WriteLine($"  load + compile       {Median(total),8:F0} ms   (run 1: {total[0]:F0} ms)   target <= 2000 ms");
        Console.WriteLine($"  compile loaded doc   {Median(compileOnly),8:F0} ms");
        Console.WriteLine($"  retained heap, document + compiled policy  {Mib(Median(retained))}   target <= 400 MB");
        Console.WriteLine($"  retained heap, compiled policy alone       {Mib(Median(retainedPolicy))}");
        Console.WriteLine($"  allocated per load + compile               {Mib(Median(allocated))}");
        Console.WriteLine($"  working set after load + compile           {Mib(Median(workingSets))}   (peak over the process: {Mib(peak)})");
        Console.WriteLine($"  lookup tables (RangeMap) of the policy     {Mib(lookupBytes)}");
        Console.WriteLine($"  quick decide, {quick}");
        return 0;
    }

    private readonly record struct Measurement(double LoadMs, double CompileMs, double CompileOnlyMs, long Retained, long RetainedPolicy,
        long Allocated, long WorkingSet, long LookupBytes);

    /// <summary>One run in its own frame, so nothing of it stays reachable from a stack slot into the next run's baseline.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static Measurement MeasureOnce()
    {
        var baseline = FullCollect();
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var t0 = Stopwatch.GetTimestamp();
        var document = BigPolicy.Load();
        var t1 = Stopwatch.GetTimestamp();
        var compiled = CompiledPolicy.Compile(document);
        var t2 = Stopwatch.GetTimestamp();
        var allocatedBytes = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        var retainedBytes = FullCollect() - baseline;
        var workingSet = Process.GetCurrentProcess().WorkingSet64;
        GC.KeepAlive(compiled);
        var (compileOnlyMs, policyBytes, lookupBytes) = CompileAgain(document);
        GC.KeepAlive(document);
        return new Measurement(Ms(t0, t1), Ms(t1, t2), compileOnlyMs, retainedBytes, policyBytes, allocatedBytes, workingSet, lookupBytes);
    }

    /// <summary>The compiler alone: compile the already-loaded document again and measure what that policy retains.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static (double Ms, long Retained, long LookupBytes) CompileAgain(PolicyDocument document)
    {
        var before = FullCollect();
        var t0 = Stopwatch.GetTimestamp();
        var compiled = CompiledPolicy.Compile(document);
        var t1 = Stopwatch.GetTimestamp();
        var retained = FullCollect() - before;
        var lookup = compiled.ApproximateLookupBytes;
        GC.KeepAlive(compiled);
        return (Ms(t0, t1), retained, lookup);
    }

    private static double Ms(long a, long b) => Stopwatch.GetElapsedTime(a, b).TotalMilliseconds;

    internal static string QuickDecide()
    {
        var fixture = new BigPolicyFixture(4096);
        var policy = fixture.Policy;
        var report = new System.Text.StringBuilder();
        var permits = 0;
        foreach (var (name, flows) in fixture.MixedByKind.Prepend(("mixed", fixture.Mixed)))
        {
            for (var warm = 0; warm < 20; warm++) foreach (var f in flows) if (policy.Decide(f).Action == RuleAction.Permit) permits++;
            var passes = new List<double>();
            for (var pass = 0; pass < 40; pass++)
            {
                var before = GC.GetAllocatedBytesForCurrentThread();
                var t = Stopwatch.GetTimestamp();
                for (var rep = 0; rep < 3; rep++)
                    foreach (var f in flows) if (policy.Decide(f).Action == RuleAction.Permit) permits++;
                var ns = Stopwatch.GetElapsedTime(t).TotalNanoseconds / (3.0 * flows.Length);
                if (GC.GetAllocatedBytesForCurrentThread() != before) throw new InvalidOperationException("Decide allocated");
                passes.Add(ns);
            }
            report.Append(CultureInfo.InvariantCulture, $"{name} {Median(passes):F0} (min {passes.Min():F0}); ");
        }
        return $"{fixture.Mixed.Length:N0} flows, ns per decision, median (min) of 40 passes (Stopwatch, 0 bytes allocated): {report}({permits} permits)";
    }

    private static long FullCollect()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        return GC.GetTotalMemory(forceFullCollection: true);
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static long Median(List<long> values) => (long)Median(values.Select(v => (double)v).ToList());

    private static string Mib(long bytes) => (bytes / (1024.0 * 1024.0)).ToString("F1", CultureInfo.InvariantCulture) + " MiB";
}

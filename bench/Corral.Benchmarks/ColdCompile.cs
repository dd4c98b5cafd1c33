using System.Diagnostics;
using Corral.Policy.Compilation;

namespace Corral.Benchmarks;

/// <summary>
/// <c>cold-compile</c>: what a fresh <c>corral check</c> or gateway start pays for the big policy: one load + compile
/// in a process that has run nothing else of ours (the files must exist: run <c>compile-stats 1</c> once to generate
/// them). Prints wall time and the process's CPU time (every thread: the JIT's background compiles included), which is
/// the fairer figure when other work shares the cores. Run it as N fresh processes and take the median.
/// </summary>
internal static class ColdCompile
{
    public static int Run()
    {
        if (!File.Exists(BigPolicy.PolicyPath) || !File.Exists(BigPolicy.FeedPath))
        {
            Console.Error.WriteLine("the big policy's files are missing: run `compile-stats 1` once first");
            return 2;
        }
        var process = Process.GetCurrentProcess();
        var cpu0 = process.TotalProcessorTime;
        var t0 = Stopwatch.GetTimestamp();
        var compiled = CompiledPolicy.Compile(BigPolicy.Load());
        var wall = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        process.Refresh();
        var cpu = (process.TotalProcessorTime - cpu0).TotalMilliseconds;
        Console.WriteLine($"cold load+compile: wall {wall:F0} ms, cpu {cpu:F0} ms ({compiled.Rules.Count} rules)");
        return 0;
    }
}

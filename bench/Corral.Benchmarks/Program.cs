using BenchmarkDotNet.Running;
using Corral.Benchmarks;

// Modes:
//   dotnet run -c Release --project bench/Corral.Benchmarks -- --filter '*Decide*'   (BenchmarkDotNet; any BDN arguments)
//   dotnet run -c Release --project bench/Corral.Benchmarks -- compile-stats [runs]  (load+compile timing and memory, no BDN)
//   dotnet run -c Release --project bench/Corral.Benchmarks -- decide-loop N [foundry|big]  (driver for callgrind instruction counts)
//   dotnet run -c Release --project bench/Corral.Benchmarks -- cold-compile          (one load+compile in a fresh process: wall and CPU ms)
//   dotnet run -c Release --project bench/Corral.Benchmarks -- quick-decide          (a rough Stopwatch figure for the big policy's mixed flows)
if (args.Length > 0 && args[0] == "compile-stats")
{
    var runs = args.Length > 1 && int.TryParse(args[1], out var n) && n > 0 ? n : 5;
    return CompileStats.Run(runs);
}
if (args.Length > 0 && args[0] == "quick-decide")
{
    Console.WriteLine("big policy, " + CompileStats.QuickDecide());
    return 0;
}
if (args.Length > 0 && args[0] == "cold-compile") return ColdCompile.Run();
if (args.Length > 0 && args[0] == "micro") return Micro.Run();
if (args.Length > 1 && args[0] == "decide-loop" && long.TryParse(args[1], out var loops))
    return DecideLoop.Run(loops, args.Length > 2 ? args[2] : "foundry");
if (args.Length > 1 && args[0] == "verdict-dump") return VerdictDump.Run(args[1]);
BenchmarkSwitcher.FromAssembly(typeof(FoundryDecideBenchmarks).Assembly).Run(args);
return 0;

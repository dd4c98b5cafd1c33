using BenchmarkDotNet.Running;
using Corral.Benchmarks;

// Two modes:
//   dotnet run -c Release --project bench/Corral.Benchmarks -- --filter '*Decide*'   (BenchmarkDotNet; any BDN arguments)
//   dotnet run -c Release --project bench/Corral.Benchmarks -- compile-stats [runs]  (load+compile timing and memory, no BDN)
if (args.Length > 0 && args[0] == "compile-stats")
{
    var runs = args.Length > 1 && int.TryParse(args[1], out var n) && n > 0 ? n : 5;
    return CompileStats.Run(runs);
}
BenchmarkSwitcher.FromAssembly(typeof(FoundryDecideBenchmarks).Assembly).Run(args);
return 0;

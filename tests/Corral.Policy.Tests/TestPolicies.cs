using System.Net;
using Corral.Policy.Compilation;
using Corral.Policy.Diagnostics;

namespace Corral.Policy.Tests;

/// <summary>Writes policies (and their feed files) into a fresh temporary folder and loads them for real.</summary>
internal sealed class TempPolicy : IDisposable
{
    public string Directory { get; } = Path.Combine(Path.GetTempPath(), "corral-test-" + Guid.NewGuid().ToString("N"));

    public TempPolicy() => System.IO.Directory.CreateDirectory(Directory);

    public string Write(string relative, string text)
    {
        var path = Path.Combine(Directory, relative);
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
        return path;
    }

    public CheckResult Check(string yaml, bool strict = false, CompileOptions? options = null) =>
        PolicyChecker.CheckFile(Write("corral.yaml", yaml), strict, options);

    public CompiledPolicy Compile(string yaml, CompileOptions? options = null)
    {
        var result = Check(yaml, options: options);
        Assert.True(result.Succeeded, string.Join("\n", result.Diagnostics));
        return result.Compiled!;
    }

    public void Dispose()
    {
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }
}

internal static class Flows
{
    public static Flow To(string source, string? host, int port = 443, params string[] addresses) => new()
    {
        Source = IPAddress.Parse(source),
        Host = host,
        Destinations = addresses.Select(IPAddress.Parse).ToArray(),
        Port = port,
        IsTls = port == 443,
        AssumePublicIfUnresolved = addresses.Length == 0,
    };

    public static string RuleOf(this Verdict verdict) => verdict.Rule?.Name ?? "(default)";

    /// <summary>Bytes this thread allocates running <paramref name="decide"/> 1,000 times after one warm-up run.</summary>
    public static long AllocatedBy(Action decide)
    {
        decide();
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++) decide();
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    public static Diagnostic Single(this CheckResult result, string code) =>
        Assert.Single(result.Diagnostics, d => d.Code == code);
}

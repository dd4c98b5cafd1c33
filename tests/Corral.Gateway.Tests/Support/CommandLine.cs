using System.Diagnostics;

namespace Corral.Gateway.Tests.Support;

/// <summary>Runs an external program (curl, ip, iptables) and collects its output.</summary>
public static class CommandLine
{
    public static bool Exists(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => File.Exists(Path.Combine(d, program)));

    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string program, params string[] args)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try { await process.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException) { process.Kill(entireProcessTree: true); throw new TimeoutException($"{program} {string.Join(' ', args)} did not finish in 60 s"); }
        return (process.ExitCode, await stdout, await stderr);
    }
}

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

    /// <summary>Runs a program that must succeed; its output is in the exception when it does not.</summary>
    public static async Task MustRunAsync(string program, params string[] args)
    {
        var (code, stdout, stderr) = await RunAsync(program, args);
        if (code != 0) throw new InvalidOperationException($"{program} {string.Join(' ', args)} failed ({code}): {stderr}{stdout}");
    }

    public static async Task<bool> SucceedsAsync(string program, params string[] args) => (await RunAsync(program, args)).ExitCode == 0;
}

using System.Diagnostics;

namespace Corral.Testing;

/// <summary>What a finished program printed and how it exited.</summary>
public readonly record struct ProcessResult(int ExitCode, string Stdout, string Stderr)
{
    /// <summary>Standard output then standard error, for messages and for programs that mix the two.</summary>
    public string Output => Stdout + Stderr;
}

/// <summary>How to run a program: where, with which extra environment, and how long it may take before it is killed.</summary>
public sealed record RunOptions
{
    public string? WorkingDirectory { get; init; }
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(60);
    public IReadOnlyDictionary<string, string>? Environment { get; init; }
}

/// <summary>Runs an external program (curl, ip, iptables, node, terraform, corral) to its end and collects its output.</summary>
public static class ProcessRunner
{
    /// <summary>Whether <paramref name="program"/> is on PATH (or in one of <paramref name="alsoIn"/>).</summary>
    public static bool IsInstalled(string program, params string[] alsoIn) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Concat(alsoIn).Any(d => d.Length > 0 && File.Exists(Path.Combine(d, program)));

    public static Task<ProcessResult> RunAsync(string program, params string[] args) => RunAsync(program, args, new RunOptions());

    /// <summary>Runs the program to its end; past the timeout it is killed (with its children) and a <see cref="TimeoutException"/> says so.</summary>
    public static async Task<ProcessResult> RunAsync(string program, IEnumerable<string> args, RunOptions options)
    {
        using var process = Start(program, args, options);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(options.Timeout);
        try { await process.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException) { throw TimedOut(process, program, args, options); }
        return new ProcessResult(process.ExitCode, await stdout, await stderr);
    }

    /// <summary>The same, blocking, for tests that are not async.</summary>
    public static ProcessResult Run(string program, IEnumerable<string> args, RunOptions options)
    {
        using var process = Start(program, args, options);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(options.Timeout)) throw TimedOut(process, program, args, options);
        return new ProcessResult(process.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>Runs a program that must succeed; its output is in the exception when it does not.</summary>
    public static async Task MustRunAsync(string program, params string[] args)
    {
        var (code, stdout, stderr) = await RunAsync(program, args);
        if (code != 0) throw new InvalidOperationException($"{program} {string.Join(' ', args)} failed ({code}): {stderr}{stdout}");
    }

    public static async Task<bool> SucceedsAsync(string program, params string[] args) => (await RunAsync(program, args)).ExitCode == 0;

    private static Process Start(string program, IEnumerable<string> args, RunOptions options)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) info.ArgumentList.Add(a);
        if (options.WorkingDirectory is { } folder) info.WorkingDirectory = folder;
        foreach (var (name, value) in options.Environment ?? new Dictionary<string, string>()) info.Environment[name] = value;
        return Process.Start(info) ?? throw new InvalidOperationException($"cannot start {program}");
    }

    private static TimeoutException TimedOut(Process process, string program, IEnumerable<string> args, RunOptions options)
    {
        process.Kill(entireProcessTree: true);
        return new TimeoutException($"{program} {string.Join(' ', args)} did not finish in {options.Timeout.TotalSeconds:0} s");
    }
}

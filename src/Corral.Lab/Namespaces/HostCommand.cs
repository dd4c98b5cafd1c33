using System.Diagnostics;

namespace Corral.Lab.Namespaces;

/// <summary>What a host tool printed and how it ended.</summary>
internal readonly record struct CommandResult(int ExitCode, string Stdout, string Stderr)
{
    public bool Succeeded => ExitCode == 0;
    public string Output => (Stderr + Stdout).Trim();
}

/// <summary>Runs the host's network tools (ip, iptables) without a shell, with a bound on how long each may take.</summary>
internal static class HostCommand
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);

    public static bool Exists(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").Split(':')
            .Append("/usr/sbin").Append("/sbin")
            .Any(d => d.Length > 0 && File.Exists(Path.Combine(d, program)));

    /// <summary>Runs the program; <paramref name="stdin"/>, when given, is written to its standard input (ip -batch -).</summary>
    public static async Task<CommandResult> RunAsync(string program, IEnumerable<string> args, string? stdin = null)
    {
        var info = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = stdin is not null, UseShellExecute = false,
        };
        foreach (var a in args) info.ArgumentList.Add(a);
        // Clean-up must finish even after Ctrl-C, so these commands take no cancellation token; they are bounded instead.
        Process? started;
        try { started = Process.Start(info); }
        catch (System.ComponentModel.Win32Exception e) { return new CommandResult(-1, "", $"cannot start {program}: {e.Message}"); }
        using var process = started ?? throw new LabSetupException($"cannot start {program}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
            process.StandardInput.Close();
        }
        using var limit = new CancellationTokenSource(Limit);
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            return new CommandResult(-1, "", $"{program} {string.Join(' ', info.ArgumentList)} did not finish in {Limit.TotalSeconds:F0} s");
        }
        return new CommandResult(process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Runs the program and throws <see cref="LabSetupException"/> with its message when it fails.</summary>
    public static async Task<CommandResult> RunCheckedAsync(string program, IEnumerable<string> args, string? stdin = null)
    {
        var list = args.ToList();
        var result = await RunAsync(program, list, stdin);
        if (!result.Succeeded)
            throw new LabSetupException($"'{program} {string.Join(' ', list)}'{(stdin is null ? "" : $" with\n{stdin.TrimEnd()}\n")} failed ({result.ExitCode}): {result.Output}");
        return result;
    }
}

/// <summary>The transparent pass's network could not be built or removed; the message names the command and its error.</summary>
public sealed class LabSetupException(string message, bool machineCannot = false) : Exception(message)
{
    /// <summary>The machine cannot host the pass safely (not a fault of the lab): report a skip, not a failure.</summary>
    public bool MachineCannot { get; } = machineCannot;
}

using Corral.Policy.Diagnostics;

namespace Corral.Gateway.Reload;

/// <summary>What put a policy in force.</summary>
public enum ReloadSource { Startup, File, Api, Promotion }

public static class ReloadSourceLabels
{
    /// <summary>The word the log and the metrics use for <paramref name="source"/>.</summary>
    public static string Label(this ReloadSource source) => source switch
    {
        ReloadSource.File => "file", ReloadSource.Api => "api", ReloadSource.Promotion => "promotion", _ => "startup",
    };
}

/// <summary>A reload that did not take effect: when, from where, and the diagnostics (FILE:LINE:COL) that explain why.</summary>
public sealed record ReloadFailure(DateTimeOffset At, ReloadSource Source, IReadOnlyList<Diagnostic> Diagnostics)
{
    public string Message => Diagnostics.Count == 0 ? "reload failed" : string.Join("; ", Diagnostics.Where(d => d.IsError).Select(d => d.ToString()));
}

/// <summary>The reloader's state, replaced as a whole after each attempt.</summary>
/// <param name="Failing">True when the most recent attempt failed (the previous policy is still in force).</param>
/// <param name="Drift">Set when the policy in force differs from the file because the file could not be written (read-only).</param>
public sealed record ReloadStatus(
    string Hash,
    string PolicyName,
    DateTimeOffset LoadedAt,
    ReloadSource Source,
    long Reloads,
    long Failures,
    bool Failing,
    ReloadFailure? LastError,
    string? Drift,
    int Rules,
    int InputFiles);

/// <summary>The result of one reload request.</summary>
/// <param name="Applied">The new policy is in force (or was already: <paramref name="Changed"/> false).</param>
public sealed record ReloadOutcome(bool Applied, bool Changed, string Hash, IReadOnlyList<Diagnostic> Diagnostics, string? Drift)
{
    public static ReloadOutcome Failed(string hash, IReadOnlyList<Diagnostic> diagnostics) => new(false, false, hash, diagnostics, null);
}

/// <summary>How a rule-mode change ended.</summary>
public enum ModeChangeResult { Applied, UnknownRule, Failed }

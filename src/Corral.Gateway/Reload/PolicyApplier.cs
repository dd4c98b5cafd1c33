using Corral.Gateway.Decision;
using Corral.Policy.Compilation;
using Corral.Policy.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Corral.Gateway.Reload;

/// <summary>
/// Puts checked policies in force: swaps them into the <see cref="PolicySource"/> the flows read (atomically, so
/// established flows keep going and every new flow sees the new policy at once), rolls back a policy put in force
/// ahead of its confirming compile, and keeps the <see cref="ReloadStatus"/>, telling each listener (metrics, the log,
/// the status event) after every attempt. A refused policy leaves the previous one in force.
/// </summary>
/// <remarks>Not thread-safe: its caller serialises changes. <see cref="Status"/> may be read from any thread.</remarks>
public sealed class PolicyApplier
{
    private readonly PolicySource _target;
    private readonly IReadOnlyList<IPolicyChangeListener> _listeners;
    private readonly ILogger _logger;
    private ReloadStatus _status;

    public PolicyApplier(PolicySource target, IReadOnlyList<IPolicyChangeListener> listeners, ILogger logger)
    {
        _target = target;
        _listeners = listeners;
        _logger = logger;
        var current = target.Current;
        _status = new ReloadStatus(current.Hash, current.Document.Name, DateTimeOffset.UtcNow, ReloadSource.Startup, 0, 0, false, null, null,
            current.Document.Rules.Count, current.Document.InputFiles.Count);
    }

    public PolicySource Target => _target;

    /// <summary>The policy in force.</summary>
    public CompiledPolicy Current => _target.Current;

    /// <summary>The policy in force and the story of reloads so far.</summary>
    public ReloadStatus Status => Volatile.Read(ref _status);

    /// <summary>Raised after each reported attempt (success or failure), off the flow path.</summary>
    public event Action<ReloadStatus>? StatusChanged;

    /// <summary>
    /// Puts <paramref name="derived"/> in force ahead of the compile that confirms it (a mode change, which changes no
    /// lookup table); the status follows with that compile. Returns false, changing nothing, when it is the policy in force.
    /// </summary>
    public bool PutAhead(CompiledPolicy derived)
    {
        if (derived.Hash == _target.Current.Hash) return false;
        _target.Swap(derived);
        return true;
    }

    /// <summary>Puts <paramref name="previous"/> back in force: the change put ahead did not complete.</summary>
    public void RollBack(CompiledPolicy previous) => _target.Swap(previous);

    /// <summary>A candidate failed to load or compile: the policy in force stays. Reported (status, listeners) unless <paramref name="report"/> is false.</summary>
    public ReloadOutcome Refuse(ReloadSource source, IReadOnlyList<Diagnostic> diagnostics, bool report = true)
    {
        var before = Status;
        if (!report) return ReloadOutcome.Failed(before.Hash, diagnostics);
        var failure = new ReloadFailure(DateTimeOffset.UtcNow, source, diagnostics);
        var status = before with { Failures = before.Failures + 1, Failing = true, LastError = failure };
        Publish(status, listener => listener.Refused(status, failure));
        return ReloadOutcome.Failed(before.Hash, diagnostics);
    }

    /// <summary>
    /// Swaps <paramref name="compiled"/> in unless it is already in force and reported; returns whether it changed
    /// anything. Against the status too, not only the policy in force: a change put ahead may already be in force
    /// (same hash), which the exact compile replaces and which still counts as this change.
    /// </summary>
    public bool SwapIn(CompiledPolicy compiled)
    {
        var changed = compiled.Hash != _target.Current.Hash || compiled.Hash != Status.Hash;
        if (changed) _target.Swap(compiled);
        return changed;
    }

    /// <summary>Reports <paramref name="compiled"/>, swapped in by <see cref="SwapIn"/>, as in force from <paramref name="source"/>, with the drift between it and the file.</summary>
    public ReloadOutcome Applied(CompiledPolicy compiled, ReloadSource source, bool changed, string? drift, IReadOnlyList<Diagnostic> diagnostics)
    {
        var before = Status;
        var status = new ReloadStatus(compiled.Hash, compiled.Document.Name, changed ? DateTimeOffset.UtcNow : before.LoadedAt, changed ? source : before.Source,
            before.Reloads + (changed ? 1 : 0), before.Failures, false, before.LastError, drift, compiled.Document.Rules.Count, compiled.Document.InputFiles.Count);
        Publish(status, listener => listener.Applied(status, source, changed));
        return new ReloadOutcome(true, changed, compiled.Hash, diagnostics, drift);
    }

    private void Publish(ReloadStatus status, Action<IPolicyChangeListener> tell)
    {
        Volatile.Write(ref _status, status);
        foreach (var listener in _listeners)
        {
            try { tell(listener); }
            catch (Exception e) { ReloadLog.StatusListenerFailed(_logger, e); }
        }
        try { StatusChanged?.Invoke(status); }
        catch (Exception e) { ReloadLog.StatusListenerFailed(_logger, e); }
    }
}

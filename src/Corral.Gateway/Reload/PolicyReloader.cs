using System.Diagnostics.Metrics;
using System.Text;
using Corral.Gateway.Decision;
using Corral.Policy;
using Corral.Policy.Compilation;
using Corral.Policy.Editing;
using Corral.Policy.Inspection;
using Corral.Policy.Model;
using Microsoft.Extensions.Logging;

namespace Corral.Gateway.Reload;

/// <summary>
/// Replaces the gateway's policy while it runs, from file changes, from new text (the admin API) and rule by rule
/// (watch ↔ enforce), one change at a time. Each change takes the same way: the candidate comes from the
/// <see cref="PolicyFileSource"/> (or the API), is checked (load, compile, lint) off the flow path, put in force by the
/// <see cref="PolicyApplier"/> (which keeps the status and tells the listeners) and, when it came through the API,
/// written back by the <see cref="PolicyPersister"/> so the file stays the source of truth. A candidate that fails to
/// load or compile leaves the previous policy in force; the failure is logged, counted and kept in <see cref="Status"/>.
/// </summary>
public sealed class PolicyReloader : IAsyncDisposable
{
    private readonly PolicyFileSource _source;
    private readonly PolicyApplier _applier;
    private readonly PolicyPersister _persister;
    private readonly RuleModeEditor _modeEditor;
    private readonly SemaphoreSlim _gate = new(1, 1);
    // The policy text last read, written or put in force by us: when it is the text of the policy in force (checked by
    // hash where used), a file change that only flips one rule's mode is put in force without waiting for a compile.
    private string? _lastText;

    /// <param name="meter">Where to count reloads and refusals (<see cref="ReloadMetrics"/>); none when null.</param>
    public PolicyReloader(PolicySource target, string policyPath, CompileOptions options, ILogger logger, Meter? meter = null)
    {
        // One inspector cache for every compile of this gateway, seeded with the policy in force: a reload that keeps the
        // payload patterns keeps their regexes.
        _source = new PolicyFileSource(policyPath, options with { Inspectors = options.Inspectors ?? new InspectorCache(target.Current.Inspector) }, logger);
        IPolicyChangeListener[] listeners = meter is null ? [new ReloadLog(logger)] : [new ReloadMetrics(meter), new ReloadLog(logger)];
        _applier = new PolicyApplier(target, listeners, logger);
        _persister = new PolicyPersister(_source.PolicyPath, target.Current.Hash);
        _modeEditor = new RuleModeEditor(_source.PolicyPath);
        if (_source.TryRead(out _, out var text, out _)) _lastText = text;
    }

    /// <summary>Builds a reloader for a gateway server.</summary>
    public PolicyReloader(Hosting.GatewayServer server, string policyPath, CompileOptions options, ILogger logger)
        : this(server.Policy, policyPath, options, logger, server.Meter) { }

    public string PolicyPath => _source.PolicyPath;
    public CompileOptions Options => _source.Options;
    public PolicySource Target => _applier.Target;

    /// <summary>The policy in force and the story of reloads so far.</summary>
    public ReloadStatus Status => _applier.Status;

    /// <summary>Raised after each attempt (success or failure), off the flow path.</summary>
    public event Action<ReloadStatus>? StatusChanged
    {
        add => _applier.StatusChanged += value;
        remove => _applier.StatusChanged -= value;
    }

    /// <summary>Starts reloading on changes to the policy file and every file it reads. <paramref name="debounce"/> coalesces bursts.</summary>
    public void StartWatching(TimeSpan? debounce = null) =>
        _source.StartWatching(_applier.Current, (quiet, changed, ct) => ReloadFileAsync(ReloadSource.File, quiet, changed, ct, inline: true), debounce ?? TimeSpan.FromMilliseconds(2));

    /// <summary>Stops reloading on file changes; a reload in progress finishes first. Changes through the API still work.</summary>
    public Task StopWatchingAsync() => _source.StopWatchingAsync();

    /// <summary>Compiles the reload path fully before an operator needs it (<see cref="RuleModeEditor.WarmUp"/>); changes nothing in force.</summary>
    public void WarmUp(int rounds = 40) => _modeEditor.WarmUp(_applier.Current, Options, rounds);

    /// <summary>Reloads the policy file (and the files it names) from disk.</summary>
    public Task<ReloadOutcome> ReloadFileAsync(ReloadSource source = ReloadSource.File, CancellationToken ct = default) =>
        ReloadFileAsync(source, quietFailure: false, changed: null, ct, inline: false);

    /// <param name="quietFailure">Do not report a failure: the watcher's first look at a file may catch it half-written.</param>
    /// <param name="changed">The files reported changed, when known: if that is the policy file alone and it holds the
    /// text in force (our own write-back, a touch, a chmod), there is nothing to compile.</param>
    /// <param name="inline">Compile on the calling thread: the watcher's own, never the pool, so a reload is not queued behind flows.</param>
    internal async Task<ReloadOutcome> ReloadFileAsync(ReloadSource source, bool quietFailure, IReadOnlySet<string>? changed, CancellationToken ct, bool inline)
    {
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var previous = _applier.Current;
            var ahead = false;
            // Only the policy file changed: its text alone decides. Through the loader's bounded read, so a FIFO or a
            // device renamed over the policy cannot hang the reload; an unreadable file goes to the full reload,
            // which says what is wrong.
            if (changed is { Count: > 0 } && changed.All(path => path == PolicyPath) && _persister.DriftText is null && _source.TryRead(out var bytes, out var text, out _))
            {
                // The text in force (our own write-back, a touch): nothing to compile. Not while a failure is
                // reported: a file put back as it was must clear that failure through a reload.
                if (!Status.Failing && PolicyDocument.ContentHashOf(bytes, previous.Document.InputsDigest) == previous.Hash)
                    return new ReloadOutcome(true, false, previous.Hash, [], Status.Drift);
                // One rule's mode flipped (a promotion made in an editor or by git): in force now, as through the API;
                // the full compile below confirms it with the same hash.
                if (DeriveModeChange(previous, text, bytes) is { } derived) ahead = _applier.PutAhead(derived);
                _lastText = text;
            }
            var outcome = await ApplyLockedAsync(_source.CheckFile, source, persist: null, ahead ? CancellationToken.None : ct, quietFailure, inline).ConfigureAwait(false);
            if (!outcome.Applied && ahead) _applier.RollBack(previous); // the file moved on to a broken text since: the previous policy stays
            return outcome;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>The policy in force with one rule's mode changed, when <paramref name="text"/> is its text with just that edit; else null.</summary>
    private CompiledPolicy? DeriveModeChange(CompiledPolicy current, string text, byte[] bytes) =>
        _lastText is { } before ? _modeEditor.DeriveModeChange(current, before, text, bytes) : null;

    /// <summary>
    /// Puts new policy text in force (relative paths resolve against the policy file's directory) and writes it to
    /// the policy file atomically, so the file stays the source of truth; a read-only file is left alone and the
    /// difference is reported as drift.
    /// </summary>
    public async Task<ReloadOutcome> ApplyTextAsync(string text, CancellationToken ct = default)
    {
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            return await ApplyLockedAsync(() => _source.CheckText(text), ReloadSource.Api, persist: text, ct).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Sets one rule's mode (watch or enforce), written back to the file when it is writable.</summary>
    /// <remarks>Read, edit, compile and swap happen under one hold of the reload lock, so no other change slips in between.</remarks>
    public async Task<(ModeChangeResult Result, ReloadOutcome? Outcome, string? Error)> SetRuleModeAsync(string rule, RuleMode mode, CancellationToken ct = default)
    {
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var previous = _applier.Current;
            if (previous.Document.Rules.All(r => r.Name != rule)) return (ModeChangeResult.UnknownRule, null, $"no rule named '{rule}' in the policy in force");
            string text;
            byte[] bytes;
            try
            {
                if (_persister.DriftText is { } inMemory) (text, bytes) = (inMemory, Encoding.UTF8.GetBytes(inMemory));
                else if (!_source.TryRead(out bytes, out text, out var problem)) return (ModeChangeResult.Failed, null, $"cannot read {PolicyPath}: {problem}");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return (ModeChangeResult.Failed, null, $"cannot read {PolicyPath}: {e.Message}");
            }
            // A splice where the text's mode sites are known (the text in force), else a parse.
            var (edited, error) = _modeEditor.SetRuleMode(text, bytes, rule, mode);
            if (error is not null) return (ModeChangeResult.Failed, null, error);
            // A mode changes no lookup table: put the derived policy in force now, before the full compile of the
            // edited text, which then confirms it (same hash) and brings the exact source locations and diagnostics.
            var ahead = RuleModeEditor.WithRuleMode(previous, rule, mode, bytes, Encoding.UTF8.GetBytes(edited!)) is { } derived && _applier.PutAhead(derived);
            ReloadOutcome outcome;
            try
            {
                // Once in force, the change is finished (compiled exactly, written back) even if the caller goes away.
                outcome = await ApplyLockedAsync(() => _source.CheckText(edited!), ReloadSource.Promotion, persist: edited, ahead ? CancellationToken.None : ct).ConfigureAwait(false);
            }
            catch when (ahead)
            {
                _applier.RollBack(previous);
                throw;
            }
            if (!outcome.Applied && ahead) _applier.RollBack(previous); // cannot happen for a sound policy; never leave it half-done
            return (outcome.Applied ? ModeChangeResult.Applied : ModeChangeResult.Failed, outcome, outcome.Applied ? null : "the edited policy does not compile");
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Checks a candidate and, when sound, puts it in force and writes it back; the caller holds the reload lock.</summary>
    /// <param name="inline">Run on the calling thread (the watcher's own). Otherwise on a thread of its own, as the
    /// caller may be a request thread: the compile takes a core for a while and the write-back waits for the disk
    /// (an fsync, milliseconds), neither of which may hold one of the few pool threads that serve every flow.</param>
    private Task<ReloadOutcome> ApplyLockedAsync(Func<CheckResult> check, ReloadSource source, string? persist, CancellationToken ct, bool quietFailure = false, bool inline = false) =>
        inline
            ? Task.FromResult(ApplyLocked(check, source, persist, quietFailure))
            : Task.Factory.StartNew(() => ApplyLocked(check, source, persist, quietFailure), ct, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private ReloadOutcome ApplyLocked(Func<CheckResult> candidate, ReloadSource source, string? persist, bool quietFailure)
    {
        if (persist is not null) _lastText = persist;
        var check = candidate();
        if (!check.Succeeded) return _applier.Refuse(source, check.Diagnostics, report: !quietFailure);
        var compiled = check.Compiled!;
        _modeEditor.Remember(check.ModeSites);
        if (source == ReloadSource.File && _persister.DriftText is not null && compiled.Hash == _persister.FileHash)
            return new ReloadOutcome(true, false, _applier.Current.Hash, check.Diagnostics, Status.Drift); // the file did not change: the drift stands
        string? drift = source == ReloadSource.File ? null : Status.Drift;
        // Watch the new policy's files before it is in force: a change to a file it adds, made once it is seen in force, is not missed.
        _source.WatchFilesOf(compiled);
        var changed = _applier.SwapIn(compiled);
        if (source == ReloadSource.File) _persister.FileRead(compiled.Hash);
        if (persist is not null) drift = _persister.Write(persist, compiled.Hash);
        return _applier.Applied(compiled, source, changed, drift, check.Diagnostics);
    }

    public async ValueTask DisposeAsync()
    {
        await _source.DisposeAsync().ConfigureAwait(false);
        _gate.Dispose();
    }
}

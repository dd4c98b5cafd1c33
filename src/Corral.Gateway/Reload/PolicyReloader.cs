using System.Diagnostics.Metrics;
using System.Text;
using Corral.Gateway.Decision;
using Corral.Policy;
using Corral.Policy.Compilation;
using Corral.Policy.Diagnostics;
using Corral.Policy.Loading;
using Corral.Policy.Model;
using Microsoft.Extensions.Logging;

namespace Corral.Gateway.Reload;

/// <summary>
/// Owns the policy file and its compile options, and replaces the gateway's policy while it runs: from file changes,
/// from new text (the admin API), and rule by rule (watch ↔ enforce). A new policy compiles off the flow path and is
/// swapped in atomically, so established flows keep going and every new flow sees it at once. A policy that fails to
/// compile leaves the previous one in force; the failure is logged, counted and kept in <see cref="Status"/>.
/// Reloads run one at a time.
/// </summary>
public sealed class PolicyReloader : IAsyncDisposable
{
    /// <summary>The largest policy text accepted from the API or read back for an edit (the loader's own bound).</summary>
    public const int MaxPolicyBytes = 8 * 1024 * 1024;

    private readonly PolicySource _target;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Counter<long>? _reloads;
    private readonly Counter<long>? _failures;
    private PolicyWatcher? _watcher;
    private ReloadStatus _status;
    // The text in force when it differs from the file (the file was read-only): what a later edit starts from.
    private string? _driftText;
    // The hash of the policy as the file (with its inputs) last stood, read or written by us: a watcher event that
    // leaves it unchanged (a chmod, a touch, our own write-back) must not replace an in-memory change with the file.
    private string _fileHash;
    // The policy text last read, written or put in force by us: when it is the text of the policy in force (checked by
    // hash where used), a file change that only flips one rule's mode is put in force without waiting for a compile.
    private string? _lastText;

    public PolicyReloader(PolicySource target, string policyPath, CompileOptions options, ILogger logger, Meter? meter = null)
    {
        _target = target;
        PolicyPath = Path.GetFullPath(policyPath);
        Options = options;
        _logger = logger;
        _reloads = meter?.CreateCounter<long>("corral.gateway.policy.reloads", description: "Policies put in force after start, by source");
        _failures = meter?.CreateCounter<long>("corral.gateway.policy.reload_failures", description: "Reloads refused because the new policy failed to load or compile, by source");
        var current = target.Current;
        _fileHash = current.Hash;
        if (TryReadPolicy(out _, out var text, out _)) _lastText = text;
        _status = new ReloadStatus(current.Hash, current.Document.Name, DateTimeOffset.UtcNow, ReloadSource.Startup, 0, 0, false, null, null,
            current.Document.Rules.Count, current.Document.InputFiles.Count);
    }

    /// <summary>Builds a reloader for a gateway server.</summary>
    public PolicyReloader(Hosting.GatewayServer server, string policyPath, CompileOptions options, ILogger logger)
        : this(server.Policy, policyPath, options, logger, server.Meter) { }

    public string PolicyPath { get; }
    public CompileOptions Options { get; }
    public PolicySource Target => _target;

    /// <summary>The policy in force and the story of reloads so far.</summary>
    public ReloadStatus Status => Volatile.Read(ref _status);

    /// <summary>Raised after each attempt (success or failure), off the flow path.</summary>
    public event Action<ReloadStatus>? StatusChanged;

    /// <summary>Starts reloading on changes to the policy file and every file it reads. <paramref name="debounce"/> coalesces bursts.</summary>
    public void StartWatching(TimeSpan? debounce = null)
    {
        if (_watcher is not null) return;
        _watcher = new PolicyWatcher(debounce ?? TimeSpan.FromMilliseconds(2), (quiet, changed, ct) => ReloadFileAsync(ReloadSource.File, quiet, changed, ct, inline: true), _logger);
        _watcher.Watch(WatchedFiles(_target.Current));
    }

    /// <summary>
    /// Runs the reload path (read, edit, load, compile, lint) on the policy file a few dozen times and discards the
    /// results, so the runtime compiles that code fully before an operator needs it: a gateway reloads rarely, and
    /// until a method has run some 30 times (counted only once start-up compiling has been quiet for a moment) the
    /// runtime keeps its quickly compiled, slow form: a Foundry-pack reload then costs about 3 ms instead of 0.4.
    /// Changes nothing in force; blocks for a few hundred milliseconds, so call it once after start, off the flow
    /// path. A large policy (inputs over 1 MiB, or a round slower than expected) is skipped or stopped early: its reload
    /// is its compile, which no warm-up shortens.
    /// </summary>
    public void WarmUp(int rounds = 40)
    {
        if (InputBytes(_target.Current) > WarmUpLimitBytes) return; // a large policy: nothing to gain, seconds of CPU to lose
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        for (var i = 0; i < rounds; i++)
        {
            if (i > 0 && System.Diagnostics.Stopwatch.GetElapsedTime(started) > TimeSpan.FromMilliseconds(50 + 25 * i)) return;
            if (i == 3) Thread.Sleep(150); // the runtime starts counting calls once compiling has been quiet for 100 ms
            if (!TryReadPolicy(out _, out var text, out _)) return;
            if (_target.Current.Document.Rules is [var rule, ..]) PolicyEditor.SetRuleMode(PolicyPath, text, rule.Name, rule.Mode);
            // One compile per round: from text it runs the same loader and compiler a file reload does.
            var check = PolicyChecker.CheckText(PolicyPath, text, Path.GetDirectoryName(PolicyPath)!, options: Options);
            if (check.Compiled is { } compiled) _ = PolicyDocument.ContentHashOf(Encoding.UTF8.GetBytes(text), compiled.Document.InputsDigest);
        }
    }

    private const long WarmUpLimitBytes = 1024 * 1024;

    /// <summary>The policy file's bytes and text, read within bounds (never a FIFO or a device); byte for byte, a BOM included.</summary>
    private bool TryReadPolicy(out byte[] bytes, out string text, out string? error)
    {
        text = "";
        if (!PolicyLoader.TryReadInput(PolicyPath, MaxPolicyBytes, out bytes, out error)) return false;
        text = Encoding.UTF8.GetString(bytes);
        return true;
    }

    private static long InputBytes(CompiledPolicy policy)
    {
        long total = 0;
        foreach (var file in policy.Document.InputFiles)
        {
            try { total += new FileInfo(file).Length; }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
        return total;
    }

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
            var previous = _target.Current;
            var early = false;
            // Only the policy file changed: its text alone decides. Through the loader's bounded read, so a FIFO or a
            // device renamed over the policy cannot hang the reload; an unreadable file goes to the full reload,
            // which says what is wrong.
            if (changed is { Count: > 0 } && changed.All(path => path == PolicyPath) && _driftText is null && TryReadPolicy(out var bytes, out var text, out _))
            {
                // The text in force (our own write-back, a touch): nothing to compile. Not while a failure is
                // reported: a file put back as it was must clear that failure through a reload.
                if (!_status.Failing && PolicyDocument.ContentHashOf(bytes, previous.Document.InputsDigest) == previous.Hash)
                    return new ReloadOutcome(true, false, previous.Hash, [], _status.Drift);
                // One rule's mode flipped (a promotion made in an editor or by git): in force now, as through the API;
                // the full compile below confirms it with the same hash.
                if (DeriveModeChange(previous, text, bytes) is { } derived)
                {
                    _target.Swap(derived);
                    early = true;
                }
                _lastText = text;
            }
            var outcome = await ApplyLockedAsync(() => PolicyChecker.CheckFile(PolicyPath, options: Options), source, persist: null, early ? CancellationToken.None : ct, quietFailure, inline).ConfigureAwait(false);
            if (!outcome.Applied && early) _target.Swap(previous); // the file moved on to a broken text since: the previous policy stays
            return outcome;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>The policy in force with one rule's mode changed, when <paramref name="text"/> is its text with just that edit; else null.</summary>
    private CompiledPolicy? DeriveModeChange(CompiledPolicy current, string text, byte[] bytes)
    {
        if (_lastText is not { } before || !PolicyEditor.TryFindModeChange(before, current.Document.Rules, text, out var rule, out var mode)) return null;
        // WithRuleMode refuses (null) unless the text it starts from is the text in force, hash for hash.
        return current.WithRuleMode(rule, mode, Encoding.UTF8.GetBytes(before), bytes) is { } derived && derived.Hash != current.Hash ? derived : null;
    }

    /// <summary>
    /// Puts new policy text in force (relative paths resolve against the policy file's directory) and writes it to
    /// the policy file atomically, so the file stays the source of truth; a read-only file is left alone and the
    /// difference is reported as drift.
    /// </summary>
    public Task<ReloadOutcome> ApplyTextAsync(string text, CancellationToken ct = default) =>
        SerializedAsync(() => Check(text), ReloadSource.Api, persist: text, ct);

    /// <summary>Sets one rule's mode (watch or enforce), written back to the file when it is writable.</summary>
    /// <remarks>Read, edit, compile and swap happen under one hold of the reload lock, so no other change slips in between.</remarks>
    public async Task<(ModeChangeResult Result, ReloadOutcome? Outcome, string? Error)> SetRuleModeAsync(string rule, RuleMode mode, CancellationToken ct = default)
    {
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_target.Current.Document.Rules.All(r => r.Name != rule)) return (ModeChangeResult.UnknownRule, null, $"no rule named '{rule}' in the policy in force");
            string text;
            byte[] bytes;
            try
            {
                if (_driftText is { } inMemory) (text, bytes) = (inMemory, Encoding.UTF8.GetBytes(inMemory));
                else if (!TryReadPolicy(out bytes, out text, out var problem)) return (ModeChangeResult.Failed, null, $"cannot read {PolicyPath}: {problem}");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return (ModeChangeResult.Failed, null, $"cannot read {PolicyPath}: {e.Message}");
            }
            var previous = _target.Current;
            string? edited, error = null;
            // The text in force: edit it where the loader saw the rule's mode, without parsing it again. Otherwise
            // (the file moved on and its reload is still to come) parse it to find the rule.
            if (previous.Document.Rules.FirstOrDefault(r => r.Name == rule)?.ModeSite is { } site
                && PolicyDocument.ContentHashOf(bytes, previous.Document.InputsDigest) == previous.Hash)
                edited = PolicyEditor.SetRuleMode(text, site, mode);
            else (edited, error) = PolicyEditor.SetRuleMode(PolicyPath, text, rule, mode);
            if (error is not null) return (ModeChangeResult.Failed, null, error);
            // A mode changes no lookup table: put the derived policy in force now, before the full compile of the
            // edited text, which then confirms it (same hash) and brings the exact source locations and diagnostics.
            var derived = previous.WithRuleMode(rule, mode, bytes, Encoding.UTF8.GetBytes(edited!));
            var early = derived is not null && derived.Hash != previous.Hash;
            if (early) _target.Swap(derived!);
            ReloadOutcome outcome;
            try
            {
                // Once in force, the change is finished (compiled exactly, written back) even if the caller goes away.
                outcome = await ApplyLockedAsync(() => Check(edited!), ReloadSource.Promotion, persist: edited, early ? CancellationToken.None : ct).ConfigureAwait(false);
            }
            catch when (early)
            {
                _target.Swap(previous);
                throw;
            }
            if (!outcome.Applied && early) _target.Swap(previous); // cannot happen for a sound policy; never leave it half-done
            return (outcome.Applied ? ModeChangeResult.Applied : ModeChangeResult.Failed, outcome, outcome.Applied ? null : "the edited policy does not compile");
        }
        finally
        {
            _gate.Release();
        }
    }

    private CheckResult Check(string text) =>
        Encoding.UTF8.GetByteCount(text) > MaxPolicyBytes
            ? new CheckResult(null, null, [new Diagnostic(Severity.Error, "file-too-large", SourceLocation.None(PolicyPath), $"policy text is larger than {MaxPolicyBytes} bytes")])
            : PolicyChecker.CheckText(PolicyPath, text, Path.GetDirectoryName(PolicyPath)!, options: Options);

    private async Task<ReloadOutcome> SerializedAsync(Func<CheckResult> load, ReloadSource source, string? persist, CancellationToken ct, bool quietFailure = false)
    {
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            return await ApplyLockedAsync(load, source, persist, ct, quietFailure).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Compiles and, when sound, swaps in and writes back; the caller holds the reload lock.</summary>
    /// <param name="inline">Run on the calling thread (the watcher's own). Otherwise on a thread of its own, as the
    /// caller may be a request thread: the compile takes a core for a while and the write-back waits for the disk
    /// (an fsync, milliseconds), neither of which may hold one of the few pool threads that serve every flow.</param>
    private Task<ReloadOutcome> ApplyLockedAsync(Func<CheckResult> load, ReloadSource source, string? persist, CancellationToken ct, bool quietFailure = false, bool inline = false) =>
        inline
            ? Task.FromResult(ApplyLocked(load, source, persist, quietFailure))
            : Task.Factory.StartNew(() => ApplyLocked(load, source, persist, quietFailure), ct, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private ReloadOutcome ApplyLocked(Func<CheckResult> load, ReloadSource source, string? persist, bool quietFailure)
    {
        if (persist is not null) _lastText = persist;
        var check = load();
        var before = _status;
        if (!check.Succeeded && quietFailure) return ReloadOutcome.Failed(before.Hash, check.Diagnostics);
        if (!check.Succeeded)
        {
            var failure = new ReloadFailure(DateTimeOffset.UtcNow, source, check.Diagnostics);
            _failures?.Add(1, new KeyValuePair<string, object?>("source", Name(source)));
            _logger.ReloadFailed(Name(source), before.Hash, failure.Message);
            Publish(before with { Failures = before.Failures + 1, Failing = true, LastError = failure });
            return ReloadOutcome.Failed(before.Hash, check.Diagnostics);
        }
        var compiled = check.Compiled!;
        if (source == ReloadSource.File && _driftText is not null && compiled.Hash == _fileHash)
            return new ReloadOutcome(true, false, _target.Current.Hash, check.Diagnostics, before.Drift); // the file did not change: the drift stands
        // Against the status, not only the policy in force: a promotion may already have put an equivalent policy
        // in force (same hash), which the exact compile replaces and which still counts as this change.
        var changed = compiled.Hash != _target.Current.Hash || compiled.Hash != before.Hash;
        string? drift = source == ReloadSource.File ? null : before.Drift;
        // Watch the new policy's files before it is in force: a change to a file it adds, made once it is seen in force, is not missed.
        _watcher?.Watch(WatchedFiles(compiled));
        if (changed)
        {
            _target.Swap(compiled);
            _reloads?.Add(1, new KeyValuePair<string, object?>("source", Name(source)));
        }
        if (source == ReloadSource.File)
        {
            _driftText = null; // the file is the truth again
            _fileHash = compiled.Hash;
        }
        if (persist is not null && (drift = Persist(persist)) is null) _fileHash = compiled.Hash;
        var status = new ReloadStatus(compiled.Hash, compiled.Document.Name, changed ? DateTimeOffset.UtcNow : before.LoadedAt, changed ? source : before.Source,
            before.Reloads + (changed ? 1 : 0), before.Failures, false, before.LastError, drift, compiled.Document.Rules.Count, compiled.Document.InputFiles.Count);
        Publish(status);
        if (changed) _logger.PolicyInForce(compiled.Document.Name, compiled.Hash, Name(source));
        if (drift is not null) _logger.Drift(drift);
        return new ReloadOutcome(true, changed, compiled.Hash, check.Diagnostics, drift);
    }

    /// <summary>Writes the text in force to the policy file (temp file + rename); returns the drift when it cannot.</summary>
    private string? Persist(string text)
    {
        try
        {
            var mode = OperatingSystem.IsWindows() ? (UnixFileMode?)null : File.GetUnixFileMode(PolicyPath);
            // We may run as root, which writes anything: honour the file's mode as the operator's intent.
            if ((OperatingSystem.IsWindows() && new FileInfo(PolicyPath).IsReadOnly) || (mode is { } m && (m & UnixFileMode.UserWrite) == 0)) return Drifted(text, $"{PolicyPath} is read-only; the policy in force was not written back");
            var temp = Path.Combine(Path.GetDirectoryName(PolicyPath)!, $".{Path.GetFileName(PolicyPath)}.{Environment.ProcessId}.tmp");
            using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 4096, FileOptions.WriteThrough))
            {
                stream.Write(Encoding.UTF8.GetBytes(text));
                stream.Flush(flushToDisk: true);
            }
            if (mode is { } keep && !OperatingSystem.IsWindows()) File.SetUnixFileMode(temp, keep);
            File.Move(temp, PolicyPath, overwrite: true);
            _driftText = null;
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Drifted(text, $"{PolicyPath} could not be written ({e.Message}); the policy in force was not written back");
        }
    }

    private string Drifted(string text, string why)
    {
        _driftText = text;
        return why;
    }

    private void Publish(ReloadStatus status)
    {
        Volatile.Write(ref _status, status);
        try { StatusChanged?.Invoke(status); }
        catch (Exception e) { _logger.StatusListenerFailed(e); }
    }

    private IEnumerable<string> WatchedFiles(CompiledPolicy policy) => policy.Document.InputFiles.Append(PolicyPath);

    private static string Name(ReloadSource source) => source switch
    {
        ReloadSource.File => "file", ReloadSource.Api => "api", ReloadSource.Promotion => "promotion", _ => "startup",
    };

    public async ValueTask DisposeAsync()
    {
        if (_watcher is not null) await _watcher.DisposeAsync().ConfigureAwait(false);
        _gate.Dispose();
    }
}

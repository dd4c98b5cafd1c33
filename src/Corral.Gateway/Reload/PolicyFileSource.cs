using System.Text;
using Corral.Policy;
using Corral.Policy.Compilation;
using Corral.Policy.Diagnostics;
using Corral.Policy.Loading;
using Microsoft.Extensions.Logging;

namespace Corral.Gateway.Reload;

/// <summary>
/// Where policies come from: the policy file and the files it reads. Reads the file within bounds, checks a candidate
/// (the file as it stands, or new text resolved against the file's directory) with <see cref="PolicyChecker"/>, and
/// watches the file and every input of the policy in force, calling back once per burst of changes.
/// Puts nothing in force itself.
/// </summary>
public sealed class PolicyFileSource : IAsyncDisposable
{
    /// <summary>The largest policy text accepted from the API or read back for an edit (the loader's own bound).</summary>
    public const int MaxPolicyBytes = 8 * 1024 * 1024;

    private readonly ILogger _logger;
    private PolicyWatcher? _watcher;

    public PolicyFileSource(string policyPath, CompileOptions options, ILogger logger)
    {
        PolicyPath = Path.GetFullPath(policyPath);
        Options = options;
        _logger = logger;
    }

    public string PolicyPath { get; }
    public CompileOptions Options { get; }
    public string PolicyDirectory => Path.GetDirectoryName(PolicyPath)!;

    /// <summary>The policy file's bytes and text, read within bounds (never a FIFO or a device); byte for byte, a BOM included.</summary>
    public bool TryRead(out byte[] bytes, out string text, out string? error)
    {
        text = "";
        if (!PolicyLoader.TryReadInput(PolicyPath, MaxPolicyBytes, out bytes, out error)) return false;
        text = Encoding.UTF8.GetString(bytes);
        return true;
    }

    /// <summary>Loads, compiles and lints the policy file and the files it names, as they stand now.</summary>
    public CheckResult CheckFile() => PolicyChecker.CheckFile(PolicyPath, options: Options);

    /// <summary>Loads, compiles and lints <paramref name="text"/> as the policy file's content (relative paths resolve against its directory).</summary>
    public CheckResult CheckText(string text) =>
        Encoding.UTF8.GetByteCount(text) > MaxPolicyBytes
            ? new CheckResult(null, null, [new Diagnostic(Severity.Error, "file-too-large", SourceLocation.None(PolicyPath), $"policy text is larger than {MaxPolicyBytes} bytes")])
            : PolicyChecker.CheckText(PolicyPath, text, PolicyDirectory, options: Options);

    /// <summary>
    /// Starts watching the policy file and the inputs of <paramref name="inForce"/>; <paramref name="changed"/> runs on
    /// the watcher's own thread once per burst. Its flag asks it not to report a failure (the file may be caught
    /// half-written; a later attempt will report); the set holds the files reported changed, or is null when unknown.
    /// </summary>
    /// <returns>False when already watching.</returns>
    public bool StartWatching(CompiledPolicy inForce, Func<bool, IReadOnlySet<string>?, CancellationToken, Task<ReloadOutcome>> changed, TimeSpan debounce)
    {
        if (_watcher is not null) return false;
        _watcher = new PolicyWatcher(debounce, changed, _logger);
        _watcher.Watch(FilesOf(inForce));
        return true;
    }

    /// <summary>Watches <paramref name="candidate"/>'s files (the watch set is replaced): call before it is put in force, so a change made once it is seen in force is not missed.</summary>
    public void WatchFilesOf(CompiledPolicy candidate) => _watcher?.Watch(FilesOf(candidate));

    private IEnumerable<string> FilesOf(CompiledPolicy policy) => policy.Document.InputFiles.Append(PolicyPath);

    /// <summary>Stops watching; a reload in progress finishes first.</summary>
    public async Task StopWatchingAsync()
    {
        if (Interlocked.Exchange(ref _watcher, null) is { } watcher) await watcher.DisposeAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync() => await StopWatchingAsync().ConfigureAwait(false);
}

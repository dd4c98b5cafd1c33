using Microsoft.Extensions.Logging;

namespace Corral.Gateway.Reload;

/// <summary>
/// Watches a set of files (one watch per directory, so editors that save by writing a new file and renaming it over
/// the old one are seen) and calls the reload once per burst of changes. On Linux, inotify says when a change is
/// finished (the writer closed the file, or renamed it into place): the reload runs at once; writes themselves are
/// not reported, and a file just created is waited out until its close (bounded). Every change where only
/// FileSystemWatcher is available waits until the files have been quiet for the debounce interval (capped). Changes that arrive during a reload cause one more reload after it. A file caught
/// half-written fails to load; such a failure is reported only if no further change arrives within the settle
/// interval, so a save in progress never shows up as a failed reload.
/// </summary>
internal sealed class PolicyWatcher : IAsyncDisposable
{
    private static readonly TimeSpan MaxDelay = TimeSpan.FromMilliseconds(250);
    // How long a watched file just created may stay open for writing (inotify only) before it is read anyway.
    private static readonly TimeSpan MaxWriterWait = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(100);
    private const int MaxQuietAttempts = 20;

    private readonly TimeSpan _debounce;
    private readonly Func<bool, IReadOnlySet<string>?, CancellationToken, Task<ReloadOutcome>> _reload;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, IDisposable> _watchers = new(StringComparer.Ordinal);
    private readonly Inotify? _inotify;
    private HashSet<string> _files = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _signal = new(0, 1);
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread _loop;
    private readonly TaskCompletionSource _loopEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _lastPoke, _lastFinished;
    private HashSet<string>? _changed = new(StringComparer.Ordinal); // guarded by _lock; null: unknown, reload everything

    /// <param name="reload">Reloads; its flag asks it not to report a failure (a later attempt will); the set holds the
    /// files reported changed since the last reload, or is null when that is not known (anything may have changed).</param>
    public PolicyWatcher(TimeSpan debounce, Func<bool, IReadOnlySet<string>?, CancellationToken, Task<ReloadOutcome>> reload, ILogger logger)
    {
        _debounce = debounce;
        _reload = reload;
        _logger = logger;
        if (Inotify.IsSupported)
        {
            try { _inotify = new Inotify(OnInotify); }
            catch (IOException e) { ReloadLog.InotifyUnavailable(_logger, e.Message); }
        }
        // Its own thread, not the pool: a gateway under load keeps the pool busy with flows, and a reload queued
        // behind them is a reload late; the compile runs on this thread too (the reload callback is told so).
        _loop = new Thread(Loop) { IsBackground = true, Name = "corral-policy-reload" };
        _loop.Start();
    }

    /// <summary>Sets the files to watch; directories no longer needed stop being watched.</summary>
    public void Watch(IEnumerable<string> files)
    {
        var set = new HashSet<string>(files.Select(Path.GetFullPath), StringComparer.Ordinal);
        lock (_lock)
        {
            if (_stop.IsCancellationRequested || set.SetEquals(_files)) return;
            _files = set;
            var directories = set.Select(f => Path.GetDirectoryName(f)!).ToHashSet(StringComparer.Ordinal);
            foreach (var gone in _watchers.Keys.Where(d => !directories.Contains(d)).ToList())
            {
                _watchers[gone].Dispose();
                _watchers.Remove(gone);
            }
            foreach (var directory in directories.Where(d => !_watchers.ContainsKey(d)))
            {
                if (!Directory.Exists(directory))
                {
                    ReloadLog.DirectoryMissing(_logger, directory);
                    continue;
                }
                if (_inotify is { } inotify)
                {
                    var wd = inotify.Add(directory, out var error);
                    if (wd < 0)
                    {
                        ReloadLog.CannotWatch(_logger, directory, error);
                        continue;
                    }
                    _watchers[directory] = new InotifyWatch(inotify, wd);
                    continue;
                }
                var watcher = new FileSystemWatcher(directory)
                {
                    NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.CreationTime,
                    IncludeSubdirectories = false,
                    InternalBufferSize = 64 * 1024,
                };
                watcher.Changed += OnEvent;
                watcher.Created += OnEvent;
                watcher.Deleted += OnEvent;
                watcher.Renamed += OnRenamed;
                watcher.Error += (_, e) =>
                {
                    // Overflowed events: we may have missed a change, so reload to be sure.
                    ReloadLog.WatcherError(_logger, directory, e.GetException().Message);
                    Poke(null, finished: false);
                };
                watcher.EnableRaisingEvents = true;
                _watchers[directory] = watcher;
            }
        }
    }

    /// <summary>Stops one directory's inotify watch when disposed, like a FileSystemWatcher.</summary>
    private sealed class InotifyWatch(Inotify inotify, int wd) : IDisposable
    {
        public void Dispose() => inotify.Remove(wd);
    }

    private void OnInotify(string? path, bool finished)
    {
        if (path is null)
        {
            ReloadLog.InotifyOverflow(_logger);
            Poke(null, finished: true);
        }
        else if (Volatile.Read(ref _files).Contains(path)) Poke(path, finished);
    }

    private void OnEvent(object sender, FileSystemEventArgs e)
    {
        if (Volatile.Read(ref _files).Contains(e.FullPath)) Poke(e.FullPath, finished: false);
    }

    private void OnRenamed(object sender, RenamedEventArgs e)
    {
        var files = Volatile.Read(ref _files);
        if (files.Contains(e.FullPath)) Poke(e.FullPath, finished: false);
        if (files.Contains(e.OldFullPath)) Poke(e.OldFullPath, finished: false);
    }

    /// <param name="path">The file that changed; null when unknown.</param>
    /// <param name="finished">The change is complete (the file was closed or renamed into place): no reason to wait.</param>
    private void Poke(string? path, bool finished)
    {
        lock (_lock)
        {
            if (path is null) _changed = null;
            else _changed?.Add(path);
        }
        var now = System.Diagnostics.Stopwatch.GetTimestamp();
        Volatile.Write(ref _lastPoke, now);
        if (finished) Volatile.Write(ref _lastFinished, now);
        Signal();
    }

    private void Signal()
    {
        try { _signal.Release(); }
        catch (SemaphoreFullException) { } // a reload is already pending
        catch (ObjectDisposedException) { }
    }

    private void Loop()
    {
        try
        {
            LoopUntilStopped();
        }
        finally
        {
            _loopEnded.TrySetResult();
        }
    }

    private void LoopUntilStopped()
    {
        var ct = _stop.Token;
        var quietFailures = 0;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                _signal.Wait(ct);
                // Wait for the change to be finished. With inotify a file just created is waited out until its writer
                // closes it (bounded), so a half-written policy is never read; without it, a trailing-edge
                // debounce waits until nothing has changed for the debounce interval (bounded).
                var first = System.Diagnostics.Stopwatch.GetTimestamp();
                while (true)
                {
                    if (Volatile.Read(ref _lastFinished) >= Volatile.Read(ref _lastPoke)) break; // the last change is complete
                    var waited = System.Diagnostics.Stopwatch.GetElapsedTime(first);
                    TimeSpan wait;
                    if (_inotify is not null)
                    {
                        if (waited >= MaxWriterWait) break;
                        wait = MaxWriterWait - waited;
                    }
                    else
                    {
                        if (waited >= MaxDelay) break;
                        var quiet = System.Diagnostics.Stopwatch.GetElapsedTime(Volatile.Read(ref _lastPoke));
                        if (quiet >= _debounce) break;
                        wait = _debounce - quiet;
                    }
                    _signal.Wait(wait, ct); // the next event ends the wait early
                }
                // Every change reported until now is covered by the reload that starts here: drop their signals, so
                // a burst (truncate, write, close) is one reload; a change from now on signals again.
                while (_signal.CurrentCount > 0) _signal.Wait(0, CancellationToken.None);
                HashSet<string>? changed;
                lock (_lock)
                {
                    changed = _changed;
                    _changed = new HashSet<string>(StringComparer.Ordinal);
                }
                var outcome = _reload(quietFailures < MaxQuietAttempts, quietFailures == 0 ? changed : null, ct).GetAwaiter().GetResult();
                if (outcome.Applied || quietFailures >= MaxQuietAttempts)
                {
                    quietFailures = 0;
                    continue;
                }
                // Failed quietly: if the file is still being written, another change is on its way.
                quietFailures++;
                if (_signal.Wait(Settle, ct))
                {
                    Signal(); // put the signal back: the loop's next turn debounces (unless finished) and retries
                    continue;
                }
                _reload(false, null, ct).GetAwaiter().GetResult(); // nothing more came: this failure is real, report it
                quietFailures = 0;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                ReloadLog.ReloadAfterChangeFailed(_logger, e);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        lock (_lock)
        {
            _stop.Cancel();
            foreach (var w in _watchers.Values) w.Dispose();
            _watchers.Clear();
        }
        _inotify?.Dispose();
        await _loopEnded.Task.ConfigureAwait(false); // a reload in progress finishes first
        _stop.Dispose();
    }
}

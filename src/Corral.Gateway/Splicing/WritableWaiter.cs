using System.Collections.Concurrent;

namespace Corral.Gateway.Splicing;

/// <summary>
/// Waits until a full socket can take bytes again, without moving any of them: one epoll instance and one thread per
/// gateway (started on the first wait), each wait a one-shot EPOLLOUT registration. .NET has no asynchronous "wait until
/// writable", and the alternative (copying a slice of the pipe through user space and sending it asynchronously) breaks
/// the zero-copy path exactly when a tunnel is busiest.
/// </summary>
internal sealed class WritableWaiter : IDisposable
{
    private const ulong WakeTag = 0; // the eventfd's tag; waits are numbered from 1
    private readonly Lock _lock = new();
    private readonly ConcurrentDictionary<ulong, TaskCompletionSource> _waiting = new();
    private int _epoll = -1, _wake = -1;
    private Thread? _thread;
    private bool _disposed;
    private long _next;

    /// <summary>How many waits were started (tests check that a full destination took this path).</summary>
    public long WaitCount => Interlocked.Read(ref _next);

    /// <summary>Waits until <paramref name="fd"/> (a socket kept open by the caller) is writable, failed or hung up.</summary>
    /// <exception cref="OperationCanceledException">The token fired first.</exception>
    /// <exception cref="ObjectDisposedException">The waiter was disposed (the gateway is stopping).</exception>
    public async ValueTask WaitAsync(int fd, CancellationToken token)
    {
        var tag = (ulong)Interlocked.Increment(ref _next);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously); // never run a splice on the epoll thread
        lock (_lock)
        {
            // Registered under the lock that disposal takes: a wait is either refused here or ended by the stopping loop.
            EnsureStarted();
            _waiting[tag] = done;
            // One-shot, and removed below either way, so a closed and reused descriptor number never inherits a stale
            // registration. Errors and hang-ups are always reported; the next splice then fails with the reason.
            if (LinuxSplice.EpollAdd(_epoll, fd, LinuxSplice.EpollOut | LinuxSplice.EpollOneShot, tag) is var errno and not 0)
            {
                _waiting.TryRemove(tag, out _);
                throw new IOException($"epoll_ctl failed: errno {errno}");
            }
        }
        try
        {
            using (token.UnsafeRegister(static s => ((TaskCompletionSource)s!).TrySetCanceled(), done))
                await done.Task.ConfigureAwait(false);
        }
        finally
        {
            _waiting.TryRemove(tag, out _);
            lock (_lock)
            {
                if (_epoll >= 0) LinuxSplice.EpollRemove(_epoll, fd);
            }
        }
    }

    /// <summary>Creates the epoll instance and starts its thread on first use; called under the lock.</summary>
    private void EnsureStarted()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_thread is not null) return;
        var epoll = LinuxSplice.EpollCreate();
        int wake;
        try { wake = LinuxSplice.EventFdCreate(); }
        catch
        {
            LinuxSplice.Close(epoll);
            throw;
        }
        if (LinuxSplice.EpollAdd(epoll, wake, LinuxSplice.EpollIn, WakeTag) is var errno and not 0)
        {
            LinuxSplice.Close(wake);
            LinuxSplice.Close(epoll);
            throw new IOException($"epoll_ctl failed: errno {errno}");
        }
        (_epoll, _wake) = (epoll, wake);
        _thread = new Thread(Loop) { IsBackground = true, Name = "Corral splice writable waiter" };
        _thread.Start();
    }

    private unsafe void Loop()
    {
        const int batch = 64;
        var events = new (uint Events, ulong Data)[batch];
        var scratch = stackalloc byte[batch * 16];
        int epoll;
        lock (_lock) epoll = _epoll;
        while (true)
        {
            var n = LinuxSplice.EpollWait(epoll, events, scratch, out var errno);
            if (n < 0)
            {
                if (errno == LinuxSplice.EINTR) continue;
                break; // cannot happen with a valid epoll descriptor; end the waits below rather than spin
            }
            var stop = false;
            for (var i = 0; i < n; i++)
            {
                if (events[i].Data == WakeTag) stop = true;
                else if (_waiting.TryGetValue(events[i].Data, out var done)) done.TrySetResult();
            }
            if (stop) break;
        }
        lock (_lock)
        {
            // Stopping (no wait can register any more): the pending ones end, their tunnels torn down with the gateway.
            foreach (var pending in _waiting.Values) pending.TrySetException(new ObjectDisposedException(nameof(WritableWaiter)));
            LinuxSplice.Close(_wake);
            LinuxSplice.Close(_epoll);
            _epoll = _wake = -1;
            _thread = null; // if this was not a disposal (epoll_wait failed), the next wait starts afresh
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            if (_thread is not null) LinuxSplice.EventFdSignal(_wake); // the thread closes both descriptors on its way out
        }
    }
}

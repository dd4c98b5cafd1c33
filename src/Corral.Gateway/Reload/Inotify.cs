using System.Runtime.InteropServices;
using System.Text;
using Corral.Gateway.Splicing;

namespace Corral.Gateway.Reload;

/// <summary>
/// Directory watches through Linux inotify, reporting whether a change is finished: a writer closing the file
/// (IN_CLOSE_WRITE), a rename into place, a delete or a chmod is final, so the policy can be read at once; a file just
/// created (IN_CREATE) is not, and is left to the watcher's debounce. FileSystemWatcher cannot tell the two apart,
/// which forced a debounce on every save.
/// </summary>
/// <remarks>
/// Writes themselves (IN_MODIFY) are not watched: a write in progress is only waited out until its writer closes the
/// file, which IN_CLOSE_WRITE reports, so they told the watcher nothing it acted on. But they woke it for every write to
/// any file in the policy's directory: a flow log kept beside the policy (as the README's walk-through does) woke the
/// watcher's thread for every batch of records.
/// </remarks>
internal sealed partial class Inotify : IDisposable
{
    private const uint InAttrib = 0x4, InCloseWrite = 0x8, InMovedFrom = 0x40, InMovedTo = 0x80, InCreate = 0x100,
        InDelete = 0x200, InQueueOverflow = 0x4000, InOnlyDir = 0x1000000;
    private const uint Mask = InAttrib | InCloseWrite | InMovedFrom | InMovedTo | InCreate | InDelete | InOnlyDir;
    private const int InNonBlock = 0x800, InCloseOnExec = 0x80000, PollIn = 1, EINTR = 4;

    private readonly int _fd;
    private readonly int _stop; // an eventfd (the splice engine's helper): signalled to end the read loop
    private readonly Action<string?, bool> _changed;
    private readonly Lock _lock = new();
    private readonly Dictionary<int, string> _directories = new();
    private readonly Thread _thread;
    private int _disposed;

    /// <param name="changed">Called with the changed file's full path (null when events were lost: assume anything changed) and whether the change is finished.</param>
    public Inotify(Action<string?, bool> changed)
    {
        _changed = changed;
        _fd = inotify_init1(InNonBlock | InCloseOnExec);
        if (_fd < 0) throw new IOException($"inotify_init1 failed: errno {Marshal.GetLastPInvokeError()}");
        try { _stop = LinuxSplice.EventFdCreate(); }
        catch
        {
            LinuxSplice.Close(_fd);
            throw;
        }
        _thread = new Thread(ReadLoop) { IsBackground = true, Name = "corral-policy-inotify" };
        _thread.Start();
    }

    public static bool IsSupported => OperatingSystem.IsLinux();

    /// <summary>Watches a directory; returns its watch descriptor, or -1 with the reason.</summary>
    public int Add(string directory, out string? error)
    {
        var wd = inotify_add_watch(_fd, directory, Mask);
        if (wd < 0)
        {
            error = $"errno {Marshal.GetLastPInvokeError()}";
            return -1;
        }
        lock (_lock) _directories[wd] = directory;
        error = null;
        return wd;
    }

    public void Remove(int wd)
    {
        lock (_lock) _directories.Remove(wd);
        _ = inotify_rm_watch(_fd, wd);
    }

    private unsafe void ReadLoop()
    {
        var buffer = new byte[64 * 1024];
        var fds = stackalloc PollFd[2];
        while (Volatile.Read(ref _disposed) == 0)
        {
            fds[0] = new PollFd { Fd = _fd, Events = PollIn };
            fds[1] = new PollFd { Fd = _stop, Events = PollIn };
            if (poll(fds, 2, -1) < 0 && Marshal.GetLastPInvokeError() != EINTR)
            {
                // Never end the watch quietly: assume anything changed, pause, and look again.
                if (Volatile.Read(ref _disposed) != 0) return;
                _changed(null, true);
                Thread.Sleep(100);
                continue;
            }
            if (fds[1].Revents != 0) return;
            if (fds[0].Revents == 0) continue;
            int length;
            fixed (byte* p = buffer) length = (int)read(_fd, p, buffer.Length);
            if (length <= 0) continue; // EAGAIN (woken for nothing) or EINTR
            try
            {
                Dispatch(buffer.AsSpan(0, length));
            }
            catch (Exception)
            {
                _changed(null, true); // never let one bad event end the watch: assume anything changed
            }
        }
    }

    private void Dispatch(ReadOnlySpan<byte> events)
    {
        while (events.Length >= 16)
        {
            var wd = MemoryMarshal.Read<int>(events);
            var mask = MemoryMarshal.Read<uint>(events[4..]);
            var nameLength = (int)MemoryMarshal.Read<uint>(events[12..]);
            var name = events.Slice(16, nameLength);
            events = events[(16 + nameLength)..];
            if ((mask & InQueueOverflow) != 0)
            {
                _changed(null, true);
                continue;
            }
            var end = name.IndexOf((byte)0);
            if (end >= 0) name = name[..end];
            if (name.IsEmpty) continue; // an event on the directory itself
            string? directory;
            lock (_lock) _directories.TryGetValue(wd, out directory);
            if (directory is null) continue;
            var finished = (mask & InCreate) == 0;
            _changed(Path.Combine(directory, Encoding.UTF8.GetString(name)), finished);
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        LinuxSplice.EventFdSignal(_stop);
        _thread.Join();
        LinuxSplice.Close(_fd);
        LinuxSplice.Close(_stop);
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int inotify_init1(int flags);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int inotify_add_watch(int fd, string path, uint mask);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int inotify_rm_watch(int fd, int wd);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int poll(PollFd* fds, nuint count, int timeout);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint read(int fd, byte* buffer, nint count);
}

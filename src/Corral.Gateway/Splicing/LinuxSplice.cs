using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Corral.Gateway.Splicing;

/// <summary>
/// The few Linux system calls a zero-copy splice needs (pipe2, splice, fcntl, close, and epoll/eventfd to wait
/// for a full socket to take bytes again), with errno.
/// </summary>
internal static partial class LinuxSplice
{
    public const int EINTR = 4, EAGAIN = 11;
    public const uint EpollIn = 0x1, EpollOut = 0x4, EpollErr = 0x8, EpollHup = 0x10, EpollOneShot = 1u << 30;
    private const uint SpliceMove = 1, SpliceNonBlock = 2;
    private const int ONonBlock = 0x800, OCloExec = 0x80000, FGetFl = 3, FSetFl = 4, FSetPipeSize = 1031, FGetPipeSize = 1032;
    private const int EpollCtlAdd = 1, EpollCtlDel = 2;

    /// <summary>struct epoll_event is packed (12 bytes) on x86-64 and naturally aligned (16) elsewhere.</summary>
    private static readonly bool PackedEpollEvent = RuntimeInformation.ProcessArchitecture == Architecture.X64;
    public static int EpollEventSize => PackedEpollEvent ? 12 : 16;

    /// <summary>Whether splice(2) may be used here: Linux on an architecture whose flag values are the ones above.</summary>
    public static bool IsSupported { get; } = OperatingSystem.IsLinux() &&
        RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.Arm64;

    /// <summary>Moves up to <paramref name="length"/> bytes between a socket and a pipe without copying to user space.</summary>
    /// <returns>Bytes moved, 0 at end of stream, or -1 with <paramref name="errno"/> set.</returns>
    public static long Splice(int from, int to, int length, out int errno)
    {
        while (true)
        {
            var n = (long)splice(from, 0, to, 0, (nuint)length, SpliceMove | SpliceNonBlock);
            errno = n < 0 ? Marshal.GetLastPInvokeError() : 0;
            if (errno != EINTR) return n;
        }
    }

    /// <summary>
    /// A non-blocking, close-on-exec pipe: (read end, write end, capacity); asks for <paramref name="size"/> bytes of
    /// capacity and reports what it got (the kernel may refuse, e.g. over the user's pipe quota).
    /// </summary>
    public static unsafe (int Read, int Write, int Capacity) CreatePipe(int size)
    {
        int* fds = stackalloc int[2];
        if (pipe2(fds, ONonBlock | OCloExec) != 0) throw new IOException($"pipe2 failed: errno {Marshal.GetLastPInvokeError()}");
        if (size > 0) _ = fcntl(fds[1], FSetPipeSize, size); // best effort: the default works too
        var capacity = fcntl(fds[1], FGetPipeSize, 0);
        return (fds[0], fds[1], capacity > 0 ? capacity : 4096);
    }

    /// <summary>A close-on-exec epoll instance.</summary>
    public static int EpollCreate()
    {
        var fd = epoll_create1(OCloExec);
        return fd >= 0 ? fd : throw new IOException($"epoll_create1 failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>Adds <paramref name="fd"/> to an epoll instance for <paramref name="events"/>, tagged with <paramref name="data"/>; errno or 0.</summary>
    public static unsafe int EpollAdd(int epoll, int fd, uint events, ulong data)
    {
        byte* e = stackalloc byte[16];
        WriteEvent(e, events, data);
        return epoll_ctl(epoll, EpollCtlAdd, fd, e) == 0 ? 0 : Marshal.GetLastPInvokeError();
    }

    /// <summary>Removes <paramref name="fd"/> from an epoll instance (harmless if it was not there).</summary>
    public static unsafe void EpollRemove(int epoll, int fd)
    {
        byte* e = stackalloc byte[16]; // kernels before 2.6.9 wanted a non-null event even for DEL
        _ = epoll_ctl(epoll, EpollCtlDel, fd, e);
    }

    /// <summary>Waits for events; fills <paramref name="into"/> with (events, data) pairs and returns how many, or -1 with errno.</summary>
    public static unsafe int EpollWait(int epoll, Span<(uint Events, ulong Data)> into, byte* scratch, out int errno)
    {
        var n = epoll_wait(epoll, scratch, into.Length, -1);
        errno = n < 0 ? Marshal.GetLastPInvokeError() : 0;
        for (var i = 0; i < n; i++)
        {
            var e = scratch + i * EpollEventSize;
            into[i] = (*(uint*)e, Unsafe.ReadUnaligned<ulong>(e + (PackedEpollEvent ? 4 : 8)));
        }
        return n;
    }

    private static unsafe void WriteEvent(byte* e, uint events, ulong data)
    {
        *(uint*)e = events;
        Unsafe.WriteUnaligned(e + (PackedEpollEvent ? 4 : 8), data);
    }

    /// <summary>A non-blocking, close-on-exec eventfd, used to wake a thread blocked in epoll_wait.</summary>
    public static int EventFdCreate()
    {
        var fd = eventfd(0, ONonBlock | OCloExec);
        return fd >= 0 ? fd : throw new IOException($"eventfd failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>Signals an eventfd (adds one to its counter).</summary>
    public static unsafe void EventFdSignal(int fd)
    {
        ulong one = 1;
        _ = write(fd, (byte*)&one, 8);
    }

    /// <summary>Makes sure a socket's descriptor is non-blocking, which splice's own non-blocking flag does not ensure.</summary>
    public static void EnsureNonBlocking(int fd)
    {
        var flags = fcntl(fd, FGetFl, 0);
        if (flags >= 0 && (flags & ONonBlock) == 0) _ = fcntl(fd, FSetFl, flags | ONonBlock);
    }

    public static void Close(int fd) => _ = close(fd);

    [LibraryImport("libc", EntryPoint = "splice", SetLastError = true)]
    private static partial nint splice(int fdIn, nint offIn, int fdOut, nint offOut, nuint length, uint flags);

    [LibraryImport("libc", EntryPoint = "pipe2", SetLastError = true)]
    private static unsafe partial int pipe2(int* fds, int flags);

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int fcntl(int fd, int command, int argument);

    [LibraryImport("libc", EntryPoint = "epoll_create1", SetLastError = true)]
    private static partial int epoll_create1(int flags);

    [LibraryImport("libc", EntryPoint = "epoll_ctl", SetLastError = true)]
    private static unsafe partial int epoll_ctl(int epoll, int op, int fd, byte* ev);

    [LibraryImport("libc", EntryPoint = "epoll_wait", SetLastError = true)]
    private static unsafe partial int epoll_wait(int epoll, byte* events, int maxEvents, int timeoutMs);

    [LibraryImport("libc", EntryPoint = "eventfd", SetLastError = true)]
    private static partial int eventfd(uint initial, int flags);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    private static unsafe partial nint write(int fd, byte* buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int close(int fd);
}

using System.Runtime.InteropServices;

namespace Corral.Gateway.Splicing;

/// <summary>The few Linux system calls a zero-copy splice needs (pipe2, splice, fcntl, read, close), with errno.</summary>
internal static partial class LinuxSplice
{
    public const int EINTR = 4, EAGAIN = 11;
    private const uint SpliceMove = 1, SpliceNonBlock = 2;
    private const int ONonBlock = 0x800, OCloExec = 0x80000, FGetFl = 3, FSetFl = 4, FSetPipeSize = 1031;

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

    /// <summary>Reads from a (non-blocking) pipe into user memory; -1 with errno on failure.</summary>
    public static unsafe int Read(int fd, Span<byte> into, out int errno)
    {
        fixed (byte* p = into)
        {
            while (true)
            {
                var n = (int)read(fd, p, (nuint)into.Length);
                errno = n < 0 ? Marshal.GetLastPInvokeError() : 0;
                if (errno != EINTR) return n;
            }
        }
    }

    /// <summary>A non-blocking, close-on-exec pipe: (read end, write end); asks for <paramref name="size"/> bytes of capacity.</summary>
    public static unsafe (int Read, int Write) CreatePipe(int size)
    {
        int* fds = stackalloc int[2];
        if (pipe2(fds, ONonBlock | OCloExec) != 0) throw new IOException($"pipe2 failed: errno {Marshal.GetLastPInvokeError()}");
        if (size > 0) _ = fcntl(fds[1], FSetPipeSize, size); // best effort: the default (64 KiB) works too
        return (fds[0], fds[1]);
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

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    private static unsafe partial nint read(int fd, byte* buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int close(int fd);
}

using System.Runtime.InteropServices;

namespace Corral.Gateway.FlowLog;

/// <summary>
/// A file opened with <c>O_APPEND</c> (Linux), written only in whole buffers (opened for reading too, to see its last byte). With <c>O_APPEND</c> the kernel puts each
/// write at the end of the file as it is then: two writers never overwrite each other's lines, and after a
/// <c>truncate -s 0</c> (logrotate's copytruncate) the next write lands at offset 0, not behind a run of NUL bytes.
/// .NET's <c>FileMode.Append</c> only seeks to the end once, at open, which is why this goes to libc.
/// </summary>
internal sealed partial class AppendFile : IDisposable
{
    private const int ORdWr = 0x2, OCreat = 0x40, OAppend = 0x400, OCloexec = 0x80000;
    private const int EIntr = 4, SeekEnd = 2, AtFdCwd = -100, AtEmptyPath = 0x1000, StatxIno = 0x100;

    private readonly int _fd;
    private readonly (uint Major, uint Minor, ulong Inode) _identity;
    private bool _disposed;

    private AppendFile(int fd, (uint, uint, ulong) identity)
    {
        _fd = fd;
        _identity = identity;
    }

    /// <summary>Opens (creating, mode 0640) <paramref name="path"/> for appending.</summary>
    /// <exception cref="IOException">The file cannot be opened (the error names the reason: no space, no descriptors, ...).</exception>
    public static AppendFile Open(string path)
    {
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException("the flow log is written with Linux's O_APPEND");
        var fd = open(path, ORdWr | OCreat | OAppend | OCloexec, 0b110_100_000);
        if (fd < 0) throw Failure($"cannot open {path}");
        if (!TryIdentify(fd, "", AtEmptyPath, out var identity))
        {
            var error = Failure($"cannot stat {path}");
            _ = close(fd);
            throw error;
        }
        return new AppendFile(fd, identity);
    }

    /// <summary>The file's current length (what others appended or truncated included).</summary>
    public long Length
    {
        get
        {
            var end = lseek(_fd, 0, SeekEnd);
            if (end < 0) throw Failure("cannot seek the flow log");
            return end;
        }
    }

    /// <summary>True when <paramref name="path"/> still names this file (false once it was renamed away or deleted).</summary>
    public bool IsStillAt(string path) => TryIdentify(AtFdCwd, path, 0, out var now) && now == _identity;

    /// <summary>The file's last byte, or -1 when it is empty.</summary>
    public unsafe int LastByte()
    {
        var length = Length;
        if (length == 0) return -1;
        byte b;
        return pread(_fd, &b, 1, length - 1) == 1 ? b : -1;
    }

    /// <summary>
    /// Appends all of <paramref name="bytes"/> or nothing: when the kernel takes only part (a full disk), that part is
    /// cut off again, so the file never ends in a torn line, and the error is thrown.
    /// </summary>
    public unsafe void AppendWhole(ReadOnlySpan<byte> bytes)
    {
        var done = 0;
        fixed (byte* start = bytes)
        {
            while (done < bytes.Length)
            {
                var n = write(_fd, start + done, (nuint)(bytes.Length - done));
                if (n > 0) { done += (int)n; continue; }
                if (n < 0 && Marshal.GetLastPInvokeError() == EIntr) continue;
                var error = Failure("cannot write the flow log");
                if (done > 0)
                {
                    // With O_APPEND our bytes are the file's last ones: cut exactly those (a later writer's bytes would
                    // only be there if it wrote in this instant, and it could not have, the disk being full).
                    var end = lseek(_fd, 0, SeekEnd);
                    if (end >= done) _ = ftruncate(_fd, end - done);
                }
                throw error;
            }
        }
    }

    private static unsafe bool TryIdentify(int dirFd, string path, int flags, out (uint, uint, ulong) identity)
    {
        // struct statx is the same on every Linux architecture: stx_ino at 32, stx_dev_major/minor at 136/140.
        var buffer = stackalloc byte[256];
        if (statx(dirFd, path, flags, StatxIno, buffer) != 0)
        {
            identity = default;
            return false;
        }
        identity = (*(uint*)(buffer + 136), *(uint*)(buffer + 140), *(ulong*)(buffer + 32));
        return true;
    }

    private static IOException Failure(string what)
    {
        var errno = Marshal.GetLastPInvokeError();
        return new IOException($"{what}: {Marshal.GetPInvokeErrorMessage(errno)}", errno);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _ = close(_fd);
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    private static unsafe partial nint write(int fd, byte* buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "pread", SetLastError = true)]
    private static unsafe partial nint pread(int fd, byte* buffer, nuint count, long offset);

    [LibraryImport("libc", EntryPoint = "lseek", SetLastError = true)]
    private static partial long lseek(int fd, long offset, int whence);

    [LibraryImport("libc", EntryPoint = "ftruncate", SetLastError = true)]
    private static partial int ftruncate(int fd, long length);

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int statx(int dirFd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int close(int fd);
}

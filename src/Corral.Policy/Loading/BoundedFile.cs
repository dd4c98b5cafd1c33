using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Corral.Policy.Loading;

/// <summary>
/// Reads an input file once, within a size bound, refusing what is not a regular file: a FIFO would block the
/// loader forever and a device such as /dev/zero never ends, and neither has a length to bound it by.
/// </summary>
internal static class BoundedFile
{
    private static readonly TimeSpan OpenTimeout = TimeSpan.FromSeconds(2);

    public static bool TryRead(string fullPath, long maxBytes, out byte[] bytes, out string? error)
    {
        bytes = [];
        if (Directory.Exists(fullPath)) { error = "is a folder, not a file"; return false; }
        FileStream stream;
        try
        {
            if (!TryOpen(fullPath, out stream!)) { error = "could not be opened (a FIFO or other special file?); use a regular file"; return false; }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            error = ex.Message;
            return false;
        }
        using (stream)
        {
            if (!stream.CanSeek) { error = "is not a regular file (a pipe or device); use a regular file"; return false; }
            var length = stream.Length;
            if (length > maxBytes) { error = $"is {length:N0} bytes; the limit is {maxBytes:N0}"; return false; }
            // Read exactly the length the file has: a device that reports 0 and never ends yields nothing.
            bytes = new byte[length];
            stream.ReadExactly(bytes);
        }
        error = null;
        return true;
    }

    /// <summary>Opens for reading without ever blocking on a FIFO; false when the open did not finish in time.</summary>
    private static bool TryOpen(string fullPath, out FileStream? stream)
    {
        if (OperatingSystem.IsLinux())
        {
            // O_NONBLOCK makes opening a FIFO return at once (a regular file ignores it): no thread to park the open
            // on, which on a busy gateway meant waiting for a pool thread once per file on every reload.
            var fd = open(fullPath, OpenReadOnly | OpenNonBlocking | OpenCloseOnExec);
            if (fd < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                var message = $"{fullPath}: {Marshal.GetPInvokeErrorMessage(errno)}";
                throw errno is EACCES or EPERM ? new UnauthorizedAccessException(message) : new IOException(message);
            }
            stream = new FileStream(new SafeFileHandle(fd, ownsHandle: true), FileAccess.Read, 1);
            return true;
        }
        // Elsewhere: open off-thread and give up after a moment.
        var opening = Task.Run(() => new FileStream(fullPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan));
        try
        {
            stream = opening.Wait(OpenTimeout) ? opening.Result : null;
            return stream is not null;
        }
        catch (AggregateException ex) when (ex.InnerException is IOException or UnauthorizedAccessException)
        {
            throw ex.InnerException;
        }
    }

    private const int OpenReadOnly = 0, OpenNonBlocking = 0x800, OpenCloseOnExec = 0x80000, EPERM = 1, EACCES = 13;

    // DllImport, not LibraryImport: the policy core is built without unsafe code, which the generator needs.
#pragma warning disable SYSLIB1054
    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    private static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);
#pragma warning restore SYSLIB1054
}

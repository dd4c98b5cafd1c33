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
        // Opening a FIFO blocks until someone writes to it: open off-thread and give up after a moment.
        var open = Task.Run(() => new FileStream(fullPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan));
        try
        {
            if (!open.Wait(OpenTimeout)) { error = "could not be opened (a FIFO or other special file?); use a regular file"; return false; }
        }
        catch (AggregateException ex) when (ex.InnerException is IOException or UnauthorizedAccessException)
        {
            error = ex.InnerException.Message;
            return false;
        }
        using var stream = open.Result;
        if (!stream.CanSeek) { error = "is not a regular file (a pipe or device); use a regular file"; return false; }
        var length = stream.Length;
        if (length > maxBytes) { error = $"is {length:N0} bytes; the limit is {maxBytes:N0}"; return false; }
        // Read exactly the length the file has: a device that reports 0 and never ends yields nothing.
        bytes = new byte[length];
        stream.ReadExactly(bytes);
        error = null;
        return true;
    }
}

using System.Collections.Concurrent;
using Corral.Policy.Compilation;
using Corral.Policy.Loading;
using Corral.Policy.Model;

namespace Corral.Gateway.Credentials;

/// <summary>
/// Reads credential values from their sources when a request needs one: a file is read again when its size or time
/// changes (a rotated key takes effect on the next request, no reload), an environment variable each time. A value
/// that could not travel in a header or a query (empty, a line break or other control character, not ASCII) is
/// refused, not sent. Problems name the source, never the value.
/// </summary>
internal sealed class CredentialValues
{
    /// <summary>An API key or token is far below this; a larger file is not one.</summary>
    public const int MaxValueBytes = 16 * 1024;

    private readonly ConcurrentDictionary<string, FileValue> _files = new(StringComparer.Ordinal);

    private sealed record FileValue(long Length, DateTime Written, string? Value, string? Problem);

    /// <summary>The credential's value, or null with what is wrong with its source.</summary>
    public string? TryGet(CompiledCredential credential, out string? problem)
    {
        var source = credential.Credential.Source;
        if (source.Kind == CredentialSourceKind.Environment)
        {
            var value = Environment.GetEnvironmentVariable(source.Reference);
            return Checked(value is null ? null : System.Text.Encoding.UTF8.GetBytes(value), source, out problem);
        }
        var path = source.FullPath ?? source.Reference;
        FileInfo info;
        try
        {
            info = new FileInfo(path);
            if (!info.Exists)
            {
                problem = $"{source} does not exist";
                return null;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            problem = $"{source} cannot be read";
            return null;
        }
        if (_files.TryGetValue(path, out var cached) && cached.Length == info.Length && cached.Written == info.LastWriteTimeUtc)
        {
            problem = cached.Problem;
            return cached.Value;
        }
        string? read;
        if (!PolicyLoader.TryReadInput(path, MaxValueBytes, out var bytes, out var error))
        {
            problem = $"{source} {error}";
            read = null;
        }
        else read = Checked(bytes, source, out problem);
        _files[path] = new FileValue(info.Length, info.LastWriteTimeUtc, read, problem);
        return read;
    }

    private static string? Checked(byte[]? bytes, CredentialSource source, out string? problem)
    {
        problem = null;
        if (bytes is null)
        {
            problem = $"{source} is not set";
            return null;
        }
        // A file usually ends in a line break; the value is what precedes it.
        var length = bytes.Length;
        while (length > 0 && bytes[length - 1] is (byte)'\n' or (byte)'\r') length--;
        if (length == 0) problem = $"{source} is empty";
        else if (bytes.AsSpan(0, length).IndexOfAnyExceptInRange((byte)0x21, (byte)0x7E) is var at && at >= 0)
            problem = $"{source} holds a byte that cannot travel in a header or a query (a space, line break, control character or non-ASCII byte at offset {at})";
        return problem is null ? System.Text.Encoding.ASCII.GetString(bytes, 0, length) : null;
    }
}

using System.Text;

namespace Corral.Gateway.Reload;

/// <summary>
/// Keeps the policy file the source of truth for changes made through the API: writes the text put in force back to
/// the file (temp file, fsync, rename, the file's mode kept), and when it cannot (a read-only file, a full disk)
/// remembers that text as drift, what a later edit starts from until the file changes. Also remembers the hash of the
/// policy as the file last stood, so a watcher event that leaves it unchanged (a chmod, a touch, this write-back)
/// does not replace an in-memory change with the file.
/// </summary>
/// <remarks>Not thread-safe: its caller serialises changes.</remarks>
public sealed class PolicyPersister(string policyPath, string fileHash)
{
    public string PolicyPath { get; } = policyPath;

    /// <summary>The text in force when it differs from the file (the file could not be written); null when the file holds it.</summary>
    public string? DriftText { get; private set; }

    /// <summary>The hash of the policy as the file (with its inputs) last stood, read or written by us.</summary>
    public string FileHash { get; private set; } = fileHash;

    /// <summary>The file was read and put in force as <paramref name="hash"/>: it is the truth again, no drift.</summary>
    public void FileRead(string hash)
    {
        DriftText = null;
        FileHash = hash;
    }

    /// <summary>Writes <paramref name="text"/>, the policy <paramref name="hash"/> in force, to the policy file; returns the drift when it cannot.</summary>
    public string? Write(string text, string hash)
    {
        var drift = TryWrite(text);
        if (drift is null)
        {
            DriftText = null;
            FileHash = hash;
        }
        else DriftText = text;
        return drift;
    }

    private string? TryWrite(string text)
    {
        try
        {
            var mode = OperatingSystem.IsWindows() ? (UnixFileMode?)null : File.GetUnixFileMode(PolicyPath);
            // We may run as root, which writes anything: honour the file's mode as the operator's intent.
            if ((OperatingSystem.IsWindows() && new FileInfo(PolicyPath).IsReadOnly) || (mode is { } m && (m & UnixFileMode.UserWrite) == 0))
                return $"{PolicyPath} is read-only; the policy in force was not written back";
            var temp = Path.Combine(Path.GetDirectoryName(PolicyPath)!, $".{Path.GetFileName(PolicyPath)}.{Environment.ProcessId}.tmp");
            using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 4096, FileOptions.WriteThrough))
            {
                stream.Write(Encoding.UTF8.GetBytes(text));
                stream.Flush(flushToDisk: true);
            }
            if (mode is { } keep && !OperatingSystem.IsWindows()) File.SetUnixFileMode(temp, keep);
            File.Move(temp, PolicyPath, overwrite: true);
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"{PolicyPath} could not be written ({e.Message}); the policy in force was not written back";
        }
    }
}

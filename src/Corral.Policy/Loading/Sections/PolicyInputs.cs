using System.Security.Cryptography;

namespace Corral.Policy.Loading.Sections;

/// <summary>
/// The files a policy reads besides itself (feeds, a Service Tags file): named relative to the policy's directory,
/// hashed as they are read (the bytes parsed are the bytes hashed), and listed for a reload to watch.
/// </summary>
internal sealed class PolicyInputs(string baseDirectory, IncrementalHash hash)
{
    /// <summary>Full paths of the files read, in the order read.</summary>
    public List<string> Files { get; } = [];

    public string FullPath(string relative) => Path.GetFullPath(Path.Combine(baseDirectory, relative));

    /// <summary>Counts a file read: its bytes go into the inputs hash.</summary>
    public void Add(string fullPath, byte[] bytes)
    {
        hash.AppendData(bytes);
        Files.Add(fullPath);
    }

    /// <summary>A path as messages show it: relative to the working directory when below it.</summary>
    public static string DisplayPath(string full)
    {
        var relative = Path.GetRelativePath(Environment.CurrentDirectory, full);
        return relative.StartsWith("..", StringComparison.Ordinal) ? full : relative;
    }
}

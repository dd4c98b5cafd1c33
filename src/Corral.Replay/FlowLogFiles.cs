using System.IO.Compression;

namespace Corral.Replay;

/// <summary>Finds a flow log's rotated files and opens plain or gzip-compressed ones.</summary>
public static class FlowLogFiles
{
    /// <summary>
    /// Every file to read for the given paths, oldest first: for a live log FILE the gateway's rotations FILE.N … FILE.1
    /// (each plain or <c>.gz</c>) come before FILE itself. A path named twice (or through its rotation) is read once.
    /// </summary>
    public static IReadOnlyList<string> Expand(IEnumerable<string> paths)
    {
        var result = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var path in paths)
        {
            var rotated = new List<string>();
            for (var n = 1; n < 10_000; n++)
            {
                var plain = $"{path}.{n}";
                if (File.Exists(plain)) rotated.Add(plain);
                else if (File.Exists(plain + ".gz")) rotated.Add(plain + ".gz");
                else break;
            }
            rotated.Reverse();
            foreach (var file in rotated.Append(path))
                if (seen.Add(Path.GetFullPath(file))) result.Add(file);
        }
        return result;
    }

    /// <summary>Opens a file for streaming; gzip (by its magic bytes, whatever the name) is decompressed on the fly.</summary>
    public static Stream Open(string path)
    {
        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 16, FileOptions.SequentialScan);
        Span<byte> magic = stackalloc byte[2];
        var read = file.ReadAtLeast(magic, 2, throwOnEndOfStream: false);
        file.Position = 0;
        return read == 2 && magic[0] == 0x1f && magic[1] == 0x8b ? new GZipStream(file, CompressionMode.Decompress) : file;
    }
}

using System.Security.Cryptography;

namespace Corral.Audit;

/// <summary>
/// The flow log's hash chain (docs/flow-log.md, "Tamper evidence"): every line carries <c>"seq"</c>, its place in the
/// chain, and <c>"prev"</c>, the SHA-256 (lowercase hex) of the bytes of the line before it (without its newline).
/// The chain runs on across rotated files and across restarts; editing, removing, reordering or inserting a line
/// breaks a link or the sequence.
/// </summary>
public static class FlowChain
{
    /// <summary>The <c>"prev"</c> of the first line of a new chain.</summary>
    public const string Genesis = "0000000000000000000000000000000000000000000000000000000000000000";

    /// <summary>Length of a <c>"prev"</c> value: SHA-256 in hex.</summary>
    public const int HashLength = 64;

    /// <summary>The hash the next line's <c>"prev"</c> carries: SHA-256 of <paramref name="line"/> (no newline), lowercase hex.</summary>
    public static string Hash(ReadOnlySpan<byte> line)
    {
        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(line, digest);
        return Convert.ToHexStringLower(digest);
    }
}

/// <summary>Where a line sits in the chain: its sequence number and the hash of the line before it.</summary>
public readonly record struct ChainLink(long Seq, string Prev)
{
    /// <summary>The first link of a new chain.</summary>
    public static readonly ChainLink First = new(1, FlowChain.Genesis);

    /// <summary>The link of the line after the line <paramref name="line"/> that holds this link.</summary>
    public ChainLink Next(ReadOnlySpan<byte> line) => new(Seq + 1, FlowChain.Hash(line));
}

/// <summary>Where a writer picks up an existing chain.</summary>
public static class ChainResume
{
    /// <summary>
    /// The link that follows the last chained line in <paramref name="tail"/> (the end of a flow-log file): only a
    /// line ending in a newline counts, so a torn last write is skipped. Null when the tail holds no chained line.
    /// </summary>
    public static ChainLink? After(ReadOnlySpan<byte> tail)
    {
        var end = tail.LastIndexOf((byte)'\n');
        while (end > 0)
        {
            var start = tail[..end].LastIndexOf((byte)'\n') + 1;
            var line = tail[start..end];
            if (ChainedLine.Parse(line) is { IsChained: true } chained) return new ChainLink(chained.Seq!.Value, chained.Prev!).Next(line);
            if (start == 0) break;
            end = start - 1;
        }
        return null;
    }
}

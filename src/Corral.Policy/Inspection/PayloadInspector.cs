using System.Buffers;
using System.Text;
using System.Text.RegularExpressions;
using Corral.Policy.Model;

namespace Corral.Policy.Inspection;

/// <summary>
/// Searches cleartext request bytes for secret patterns. Regular expressions run with the non-backtracking engine,
/// so a hostile payload or a careless user pattern cannot make a scan slower than linear.
/// </summary>
public sealed class PayloadInspector
{
    /// <summary>Bytes carried from one chunk to the next, so a secret split across chunks is still found.</summary>
    public const int CarryBytes = 4096;

    private readonly (string Name, Regex Regex)[] _patterns;

    public PayloadInspector(InspectionSettings settings)
    {
        Settings = settings;
        _patterns = settings.BuiltIns.Select(n => (n, BuiltInPatterns.All[n]))
            .Concat(settings.Custom.Select(c => (c.Name, c.Regex)))
            .Select(p => (p.Item1, new Regex(p.Item2, RegexOptions.NonBacktracking | RegexOptions.CultureInvariant, Regex.InfiniteMatchTimeout)))
            .ToArray();
    }

    public InspectionSettings Settings { get; }

    public bool IsEmpty => _patterns.Length == 0;

    /// <summary>Checks that a user pattern compiles under the engine the inspector uses; null when it does.</summary>
    public static string? ValidatePattern(string regex)
    {
        try
        {
            _ = new Regex(regex, RegexOptions.NonBacktracking | RegexOptions.CultureInvariant);
            return null;
        }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException)
        {
            return ex.Message;
        }
    }

    /// <summary>The name of the first pattern found in <paramref name="data"/>, or null.</summary>
    public string? Scan(ReadOnlySpan<byte> data)
    {
        if (_patterns.Length == 0 || data.IsEmpty) return null;
        var chars = ArrayPool<char>.Shared.Rent(data.Length);
        try
        {
            // Latin-1 maps each byte to one char, so patterns see the bytes as written, whatever the encoding.
            var count = Encoding.Latin1.GetChars(data, chars);
            ReadOnlySpan<char> text = chars.AsSpan(0, count);
            foreach (var (name, regex) in _patterns)
                if (regex.IsMatch(text)) return name;
            return null;
        }
        finally
        {
            ArrayPool<char>.Shared.Return(chars);
        }
    }

    /// <summary>Starts a scan of a stream fed chunk by chunk (a request head, then its body).</summary>
    public StreamScan StartStream() => new(this);

    /// <summary>A streaming scan with bounded memory: each chunk is scanned together with the tail of the previous one.</summary>
    public sealed class StreamScan(PayloadInspector inspector)
    {
        private byte[] _carry = [];

        /// <summary>
        /// Scans bytes that are not part of the data stream (chunk extensions, trailers) on their own, so they can
        /// neither hide a secret nor split one across the data they sit between.
        /// </summary>
        public string? ScanApart(ReadOnlySpan<byte> bytes) => inspector.Scan(bytes);

        /// <summary>Scans the next chunk before it is forwarded; returns the pattern found, or null.</summary>
        public string? Feed(ReadOnlySpan<byte> chunk)
        {
            if (inspector.IsEmpty || chunk.IsEmpty) return null;
            var buffer = ArrayPool<byte>.Shared.Rent(_carry.Length + chunk.Length);
            try
            {
                _carry.CopyTo(buffer, 0);
                chunk.CopyTo(buffer.AsSpan(_carry.Length));
                var length = _carry.Length + chunk.Length;
                var found = inspector.Scan(buffer.AsSpan(0, length));
                var keep = Math.Min(CarryBytes, length);
                _carry = buffer.AsSpan(length - keep, keep).ToArray();
                return found;
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }
}

using System.Buffers;
using System.Text;
using System.Text.RegularExpressions;
using Corral.Policy.Model;

namespace Corral.Policy.Inspection;

/// <summary>
/// Searches cleartext requests for secrets in what the receiving side will read, not only in the bytes as sent: each
/// window of text is matched as written, then again after each decoding a server or parser may apply (backslash
/// escapes, percent-encoding, character references, base64/base64url/hex runs), nested up to
/// <see cref="MaxDecodeDepth"/> layers, and a body in a charset that does not spell ASCII as ASCII (UTF-16, UTF-32,
/// EBCDIC) is also read as text in that charset. Regular expressions run on the non-backtracking engine, so neither a
/// hostile payload nor a careless user pattern can make a scan slower than linear in what it reads.
/// </summary>
public sealed class PayloadInspector
{
    /// <summary>Characters carried from one chunk to the next, so a secret (as sent, up to this long) split across chunks is still found.</summary>
    public const int CarryBytes = 4096;

    /// <summary>How many decodings are undone one inside another (base64 of a percent-encoded JSON escape is three).</summary>
    public const int MaxDecodeDepth = 3;

    private const RegexOptions Options = RegexOptions.NonBacktracking | RegexOptions.CultureInvariant;

    /// <param name="Keywords">Literals every match contains; null: the pattern runs on all text (a user pattern).</param>
    private sealed record Pattern(string Name, Regex Regex, double MinEntropy, SearchValues<string>? Keywords);

    private readonly Pattern[] _patterns;

    // Null when a pattern has no keywords: then there is no shortcut for text that holds none.
    private readonly SearchValues<string>? _anyKeyword, _anyKeywordIgnoringCase;

    public PayloadInspector(InspectionSettings settings)
    {
        Settings = settings;
        _patterns = settings.BuiltIns.Select(n => new Pattern(n, Compile(BuiltInPatterns.All[n]), BuiltInPatterns.MinEntropy.GetValueOrDefault(n),
                SearchValues.Create(BuiltInPatterns.Keywords[n].Words, BuiltInPatterns.Keywords[n].IgnoreCase ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal)))
            .Concat(settings.Custom.Select(c => new Pattern(c.Name, Compile(c.Regex), 0, null)))
            .ToArray();
        if (settings.Custom.Count == 0)
        {
            var chosen = settings.BuiltIns.Select(n => BuiltInPatterns.Keywords[n]).ToList();
            _anyKeyword = SearchValues.Create(chosen.Where(k => !k.IgnoreCase).SelectMany(k => k.Words).Distinct().ToArray(), StringComparison.Ordinal);
            _anyKeywordIgnoringCase = SearchValues.Create(chosen.Where(k => k.IgnoreCase).SelectMany(k => k.Words).Distinct().ToArray(), StringComparison.OrdinalIgnoreCase);
        }
    }

    private static Regex Compile(string pattern) => new(pattern, Options, Regex.InfiniteMatchTimeout);

    public InspectionSettings Settings { get; }

    public bool IsEmpty => _patterns.Length == 0;

    /// <summary>Checks that a user pattern compiles under the engine the inspector uses; null when it does.</summary>
    public static string? ValidatePattern(string regex)
    {
        try
        {
            _ = new Regex(regex, Options);
            return null;
        }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException)
        {
            return ex.Message;
        }
    }

    /// <summary>The name of the first pattern found in <paramref name="data"/> or in what it decodes to, or null.</summary>
    /// <param name="contentType">The Content-Type the data is declared as (for its charset), if any.</param>
    public string? Scan(ReadOnlySpan<byte> data, string? contentType = null) => StartStream(contentType).Feed(data);

    /// <summary>Starts a scan of a body fed chunk by chunk.</summary>
    /// <param name="contentType">The body's declared Content-Type: its charset, if one that does not spell ASCII as ASCII, is decoded too.</param>
    public StreamScan StartStream(string? contentType = null) => new(this, BodyCharset.Declared(contentType));

    /// <summary>Matches text as written, then each decoded view of it, depth first.</summary>
    internal string? ScanText(ReadOnlySpan<char> text, int depth)
    {
        if (text.IsEmpty) return null;
        if (Match(text) is { } found) return found;
        if (depth >= MaxDecodeDepth) return null;
        if (DecodedViews.Unescape(text) is { } unescaped && ScanText(unescaped, depth + 1) is { } inEscapes) return inEscapes;
        if (DecodedViews.PercentDecode(text) is { } decoded && ScanText(decoded, depth + 1) is { } inPercent) return inPercent;
        if (DecodedViews.UnescapeCharacterReferences(text) is { } referenced && ScanText(referenced, depth + 1) is { } inReferences) return inReferences;
        if (!DecodedViews.HasLongRun(text)) return null;
        foreach (var bytes in DecodedViews.DecodeRuns(text.ToString()))
            foreach (var shown in DecodedViews.AsText(bytes))
            {
                // Decoded binary is matched as is, but only text is decoded further: an image's base64 costs one pass.
                if (Match(shown) is { } inRun) return inRun;
                if (DecodedViews.IsMostlyText(shown) && ScanText(shown, depth + 1) is { } deeper) return deeper;
            }
        return null;
    }

    private string? Match(ReadOnlySpan<char> text)
    {
        if (_anyKeyword is not null && text.IndexOfAny(_anyKeyword) < 0 && text.IndexOfAny(_anyKeywordIgnoringCase!) < 0) return null;
        foreach (var pattern in _patterns)
        {
            if (pattern.Keywords is not null && text.IndexOfAny(pattern.Keywords) < 0) continue;
            if (pattern.MinEntropy <= 0)
            {
                if (pattern.Regex.IsMatch(text)) return pattern.Name;
                continue;
            }
            foreach (var match in pattern.Regex.EnumerateMatches(text))
                if (SecretEntropy.OfAssignedValue(text.Slice(match.Index, match.Length)) >= pattern.MinEntropy) return pattern.Name;
        }
        return null;
    }

    /// <summary>
    /// A streaming scan with bounded memory: each chunk is scanned together with the tail of the previous one, as
    /// sent and, when the body's charset needs it, as decoded text.
    /// </summary>
    public sealed class StreamScan
    {
        private readonly PayloadInspector _inspector;
        private readonly Encoding? _declared;
        private char[] _carry = [];
        private char[] _textCarry = [];
        private Decoder? _decoder;
        private byte[]? _start = []; // the body's first bytes, until its charset is decided (then null)

        internal StreamScan(PayloadInspector inspector, Encoding? declared)
        {
            _inspector = inspector;
            _declared = declared;
        }

        /// <summary>
        /// Scans bytes that are not part of the data stream (a request head, chunk extensions, trailers) on their own,
        /// so they can neither hide a secret nor split one across the data they sit between.
        /// </summary>
        public string? ScanApart(ReadOnlySpan<byte> bytes)
        {
            if (_inspector.IsEmpty || bytes.IsEmpty) return null;
            return _inspector.ScanText(Encoding.Latin1.GetString(bytes), 0);
        }

        /// <summary>Scans the next chunk before it is forwarded; returns the pattern found, or null.</summary>
        public string? Feed(ReadOnlySpan<byte> chunk)
        {
            if (_inspector.IsEmpty || chunk.IsEmpty) return null;
            var chars = ArrayPool<char>.Shared.Rent(chunk.Length);
            try
            {
                // Latin-1 maps each byte to one char, so patterns see the bytes as written, whatever the encoding.
                var count = Encoding.Latin1.GetChars(chunk, chars);
                if (ScanWindow(ref _carry, chars.AsSpan(0, count)) is { } found) return found;
            }
            finally
            {
                ArrayPool<char>.Shared.Return(chars);
            }
            return FeedText(chunk);
        }

        // The body read in its charset, when that differs from the bytes.
        private string? FeedText(ReadOnlySpan<byte> chunk)
        {
            if (_start is not null)
            {
                var start = new byte[_start.Length + chunk.Length];
                _start.CopyTo(start, 0);
                chunk.CopyTo(start.AsSpan(_start.Length));
                if (start.Length < BodyCharset.SniffBytes && _declared is null)
                {
                    _start = start;
                    return null;
                }
                _start = null;
                if ((BodyCharset.Sniff(start) ?? _declared) is not { } encoding) return null;
                _decoder = encoding.GetDecoder();
                return DecodeAndScan(start);
            }
            return _decoder is null ? null : DecodeAndScan(chunk);
        }

        private string? DecodeAndScan(ReadOnlySpan<byte> bytes)
        {
            var chars = ArrayPool<char>.Shared.Rent(_decoder!.GetCharCount(bytes, flush: false) + 2);
            try
            {
                var count = _decoder.GetChars(bytes, chars, flush: false);
                return ScanWindow(ref _textCarry, chars.AsSpan(0, count));
            }
            finally
            {
                ArrayPool<char>.Shared.Return(chars);
            }
        }

        private string? ScanWindow(ref char[] carry, ReadOnlySpan<char> chars)
        {
            if (chars.IsEmpty) return null;
            var length = carry.Length + chars.Length;
            var window = ArrayPool<char>.Shared.Rent(length);
            try
            {
                carry.CopyTo(window, 0);
                chars.CopyTo(window.AsSpan(carry.Length));
                var found = _inspector.ScanText(window.AsSpan(0, length), 0);
                var keep = Math.Min(CarryBytes, length);
                carry = window.AsSpan(length - keep, keep).ToArray();
                return found;
            }
            finally
            {
                ArrayPool<char>.Shared.Return(window);
            }
        }
    }
}

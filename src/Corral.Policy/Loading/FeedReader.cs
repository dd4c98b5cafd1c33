using System.Text;
using Corral.Policy.Addressing;
using Corral.Policy.Diagnostics;

namespace Corral.Policy.Loading;

/// <summary>
/// Reads a threat feed: one IP, CIDR or domain a line; <c>#</c> and <c>;</c> start comments (so Spamhaus DROP's
/// <c>CIDR ; SBLnnn</c> works); hosts-file lines (<c>0.0.0.0 evil.example</c>) give their name. Bounded: line length,
/// and entries (per feed and, through the caller's budget, across feeds).
/// </summary>
internal static class FeedReader
{
    public const long MaxBytes = 512L * 1024 * 1024;
    public const int MaxLineLength = 4096;
    public const int MaxEntries = 10_000_000;
    private const int MaxErrorsPerFile = 20;

    /// <param name="entryBudget">Entries still allowed across all feeds; decreased by what this feed adds.</param>
    /// <remarks>
    /// Each line is decoded into one reused buffer, not a string: a million-line feed would otherwise allocate a
    /// million short-lived strings. The prefixes go into a <see cref="PrefixList"/> sized once from the line count.
    /// </remarks>
    public static (IReadOnlyList<IpPrefix> Prefixes, List<string> Domains) Parse(byte[] bytes, string displayPath, DiagnosticBag diagnostics, ref int entryBudget)
    {
        var domains = new List<string>();
        if (Array.IndexOf(bytes, (byte)0) >= 0)
        {
            diagnostics.Error("not-text", SourceLocation.None(displayPath), "feed contains NUL bytes: this is not a text feed");
            return (new PrefixList.Builder(0).Build(), domains);
        }
        ReadOnlySpan<byte> rest = bytes;
        if (rest.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF])) rest = rest[3..];
        var prefixes = new PrefixList.Builder(rest.Count((byte)'\n') + 1);
        var utf8 = new UTF8Encoding(false, throwOnInvalidBytes: true);
        var line = new char[MaxLineLength]; // UTF-8 never decodes to more characters than it has bytes
        var errors = 0;
        var lineNumber = 0;
        while (!rest.IsEmpty)
        {
            lineNumber++;
            var newline = rest.IndexOf((byte)'\n');
            var lineBytes = newline < 0 ? rest : rest[..newline];
            rest = newline < 0 ? [] : rest[(newline + 1)..];
            if (lineBytes.Length > MaxLineLength)
            {
                if (++errors <= MaxErrorsPerFile)
                    diagnostics.Error("bad-feed-entry", new SourceLocation(displayPath, lineNumber, 1), $"line longer than {MaxLineLength} bytes");
                continue;
            }
            int length;
            try { length = utf8.GetChars(lineBytes, line); }
            catch (DecoderFallbackException)
            {
                diagnostics.Error("not-text", new SourceLocation(displayPath, lineNumber, 1), "feed is not valid UTF-8 text");
                return (prefixes.Build(), domains);
            }
            var content = StripComment(line.AsSpan(0, length), out var column);
            if (content.IsEmpty) continue;
            if (--entryBudget < 0)
            {
                diagnostics.Error("feed-too-large", new SourceLocation(displayPath, lineNumber, column), $"more than {MaxEntries:N0} feed entries in all");
                return (prefixes.Build(), domains);
            }
            if (!TryParseEntry(content, prefixes, domains, out var error) && ++errors <= MaxErrorsPerFile)
                diagnostics.Error("bad-feed-entry", new SourceLocation(displayPath, lineNumber, column), $"not an IP address, CIDR or domain: {error}");
        }
        if (errors > MaxErrorsPerFile)
            diagnostics.Error("bad-feed-entry", SourceLocation.None(displayPath), $"{errors - MaxErrorsPerFile:N0} more bad entries not shown");
        return (prefixes.Build(), domains);
    }

    private static ReadOnlySpan<char> StripComment(ReadOnlySpan<char> line, out int column)
    {
        var span = line.TrimEnd('\r');
        var cut = span.IndexOfAny('#', ';');
        if (cut >= 0) span = span[..cut];
        var trimmedStart = span.TrimStart();
        column = span.Length - trimmedStart.Length + 1;
        return trimmedStart.TrimEnd();
    }

    private static bool TryParseEntry(ReadOnlySpan<char> content, PrefixList.Builder prefixes, List<string> domains, out string? error)
    {
        var space = content.IndexOfAny(' ', '\t');
        if (space >= 0)
        {
            // hosts-file form: "0.0.0.0 evil.example" or "127.0.0.1 evil.example"
            var first = content[..space];
            var rest = content[(space + 1)..].Trim();
            if ((first is "0.0.0.0" or "127.0.0.1" or "::" or "::1") && !rest.IsEmpty && rest.IndexOfAny(' ', '\t') < 0)
                content = rest;
            else
            {
                error = "one entry a line";
                return false;
            }
        }
        // Nearly every line of a large feed is a plain IPv4 address or CIDR: parse those directly, without the
        // IPAddress object and the general parser. Anything the fast path does not accept goes to IpPrefix.TryParse,
        // which decides (and words the error) exactly as before; the fast path accepts only what it would accept.
        if (TryParseIPv4Fast(content, out var fast))
        {
            prefixes.Add(fast);
            error = null;
            return true;
        }
        if (IpPrefix.TryParse(content, out var prefix, out error))
        {
            prefixes.Add(prefix);
            return true;
        }
        if (content.IndexOfAny(':', '/') >= 0 || IpLiteral.TryParse(content.ToString(), out _)) return false;
        var name = content.ToString();
        if (name.StartsWith("*.", StringComparison.Ordinal)) name = name[2..]; // a listed domain covers its subdomains anyway
        if (!HostName.TryNormalize(name, out var normalized, out error)) return false;
        domains.Add(normalized);
        return true;
    }
    /// <summary>
    /// Strict dotted-quad IPv4 with an optional /length, as <see cref="IpPrefix.TryParse"/> reads it: four decimal parts
    /// 0-255 without leading zeros, a length 0-32 of at most three digits (leading zeros allowed there, as
    /// <c>int.TryParse</c> allows them), no host bits. Returns false for anything else, including what is merely unusual.
    /// </summary>
    internal static bool TryParseIPv4Fast(ReadOnlySpan<char> text, out IpPrefix prefix)
    {
        prefix = default;
        uint address = 0;
        var i = 0;
        for (var part = 0; part < 4; part++)
        {
            if (part > 0)
            {
                if (i >= text.Length || text[i] != '.') return false;
                i++;
            }
            var start = i;
            var value = 0;
            while (i < text.Length && (uint)(text[i] - '0') <= 9 && i - start < 3)
            {
                value = value * 10 + (text[i] - '0');
                i++;
            }
            var digits = i - start;
            if (digits == 0 || (digits > 1 && text[start] == '0') || value > 255) return false;
            if (i < text.Length && (uint)(text[i] - '0') <= 9) return false; // a fourth digit
            address = (address << 8) | (uint)value;
        }
        var length = 32;
        if (i < text.Length)
        {
            if (text[i] != '/') return false;
            i++;
            var start = i;
            length = 0;
            while (i < text.Length && (uint)(text[i] - '0') <= 9 && i - start < 3)
            {
                length = length * 10 + (text[i] - '0');
                i++;
            }
            if (i == start || i != text.Length || length > 32) return false;
        }
        var hostMask = length == 32 ? 0u : uint.MaxValue >> length;
        if ((address & hostMask) != 0) return false; // let IpPrefix.TryParse word the "host bits are set" error
        prefix = new IpPrefix(address, (byte)length, IsV4: true);
        return true;
    }

}

using Corral.Policy.Model;

namespace Corral.Policy.Addressing;

/// <summary>Parses URL filters (<c>host/path*</c>) written in a policy.</summary>
public static class UrlPatterns
{
    public static bool TryParse(string text, out UrlPattern? pattern, out string? error)
    {
        pattern = null;
        var s = text.Trim();
        foreach (var scheme in new[] { "https://", "http://" })
            if (s.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)) s = s[scheme.Length..];
        var slash = s.IndexOf('/');
        if (slash <= 0)
        {
            error = "a URL filter is host/path";
            return false;
        }
        if (!DomainPattern.TryParse(s[..slash], out var host, out error)) return false;
        var path = s[slash..];
        if (path.Contains('?') || path.Contains('#'))
        {
            error = "URL filters match the path only; remove the query or fragment";
            return false;
        }
        if (!UrlPath.TryNormalize(path.Replace("*", "%2A-STAR"), out var normalized, out error))
            return false;
        pattern = new UrlPattern(host, normalized.Replace("%2A-STAR", "*"));
        return true;
    }
}

/// <summary>
/// Request paths as URL filters see them: query dropped, unreserved percent-escapes decoded, and every ambiguous form
/// refused: encoded slash, backslash, dot or NUL, double encoding, bytes that are not UTF-8, control characters,
/// empty segments ("//") and dot segments ("/./", "/../", "..;"). A refused path matches no URL filter: a server
/// may resolve such a path differently from the filter, so "/repos/evil/../contoso/x" cannot pass a filter for
/// "/repos/contoso/*". Rules without URL filters never look at the path.
/// </summary>
public static class UrlPath
{
    public const int MaxLength = 8192;

    /// <summary>Normalizes a request target's path (origin form: path and optional query).</summary>
    public static bool TryNormalize(string target, out string path, out string? error)
    {
        path = "/";
        if (QueryStart(target) > MaxLength) { error = TooLong; return false; }
        Span<char> buffer = stackalloc char[Math.Max(1, QueryStart(target))];
        if (!TryNormalize(target, buffer, out var written, out error)) return false;
        path = new string(buffer[..written]);
        return true;
    }

    /// <summary>
    /// <see cref="TryNormalize(string, out string, out string?)"/> into <paramref name="destination"/>, allocation-free.
    /// The normalized path is never longer than the target's path part, or 1 when that is empty.
    /// </summary>
    public static bool TryNormalize(ReadOnlySpan<char> target, Span<char> destination, out int written, out string? error)
    {
        written = 0;
        if (target.Contains('#')) { error = "fragment ('#') in a request target"; return false; }
        var raw = target[..QueryStart(target)];
        if (raw.Length == 0) raw = "/";
        if (raw.Length > MaxLength) { error = TooLong; return false; }
        if (raw[0] != '/') { error = "path must start with '/'"; return false; }
        var segmentStart = 1;
        var utf8CheckedUpTo = 0; // percent-escaped UTF-8 before this index has been validated as whole sequences
        for (var i = 0; i < raw.Length; i++)
        {
            var c = raw[i];
            if (c < 0x21 || c == 0x7F || c == '\\') { error = "control character, space or backslash in path"; return false; }
            if (c == '/')
            {
                if (i > 0 && !IsPlainSegment(destination[segmentStart..written], last: false, out error)) return false;
                destination[written++] = '/';
                segmentStart = written;
                continue;
            }
            if (c != '%')
            {
                destination[written++] = c;
                continue;
            }
            if (!TryReadEscape(raw, i, out var b)) { error = "bad percent-escape in path"; return false; }
            if (b is (byte)'/' or (byte)'\\' or 0 or (byte)'.') { error = "encoded '/', '\\', '.' or NUL in path"; return false; }
            if (b == '%' && i + 4 < raw.Length && char.IsAsciiHexDigit(raw[i + 3]) && char.IsAsciiHexDigit(raw[i + 4]))
            {
                error = "double percent-encoding in path";
                return false;
            }
            if (b >= 0x80 && i >= utf8CheckedUpTo)
            {
                if (!TryCheckUtf8Sequence(raw, i, out var end)) { error = "percent-encoded bytes that are not UTF-8 in path"; return false; }
                utf8CheckedUpTo = end;
            }
            if (char.IsAsciiLetterOrDigit((char)b) || b is (byte)'-' or (byte)'_' or (byte)'~')
            {
                destination[written++] = (char)b;
            }
            else
            {
                destination[written++] = '%';
                destination[written++] = char.ToUpperInvariant(raw[i + 1]);
                destination[written++] = char.ToUpperInvariant(raw[i + 2]);
            }
            i += 2;
        }
        return IsPlainSegment(destination[segmentStart..written], last: true, out error);
    }

    private const string TooLong = "path too long";

    private static int QueryStart(ReadOnlySpan<char> target)
    {
        var q = target.IndexOf('?');
        return q >= 0 ? q : target.Length;
    }

    // A segment that every server reads the same way: not empty (except the last, "/dir/"), not a dot segment.
    private static bool IsPlainSegment(ReadOnlySpan<char> segment, bool last, out string? error)
    {
        error = null;
        if (segment.Length == 0)
        {
            if (last) return true;
            error = "empty path segment ('//')";
            return false;
        }
        var parameters = segment.IndexOf(';');
        var name = parameters >= 0 ? segment[..parameters] : segment;
        if (name is "." or "..")
        {
            error = parameters >= 0 ? "dot segment with parameters ('..;')" : "dot segment ('/./' or '/../') in path";
            return false;
        }
        return true;
    }

    private static bool TryReadEscape(ReadOnlySpan<char> raw, int i, out byte value)
    {
        value = 0;
        if (i + 2 >= raw.Length || !char.IsAsciiHexDigit(raw[i + 1]) || !char.IsAsciiHexDigit(raw[i + 2])) return false;
        value = (byte)((HexValue(raw[i + 1]) << 4) | HexValue(raw[i + 2]));
        return true;
    }

    private static int HexValue(char c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;

    // The escaped byte at i starts one UTF-8 sequence (no overlongs, no surrogates) spelled as escapes; end is past it.
    private static bool TryCheckUtf8Sequence(ReadOnlySpan<char> raw, int i, out int end)
    {
        Span<byte> bytes = stackalloc byte[4];
        var count = 0;
        end = i;
        while (count < 4 && TryReadEscape(raw, end, out var b) && b >= 0x80 && (count == 0 || b < 0xC0))
        {
            bytes[count++] = b;
            end += 3;
        }
        return System.Text.Rune.DecodeFromUtf8(bytes[..count], out _, out var consumed) == System.Buffers.OperationStatus.Done
               && consumed == count;
    }

    /// <summary>Glob match where '*' stands for any run of characters, '/' included; case-sensitive.</summary>
    public static bool GlobMatches(ReadOnlySpan<char> glob, ReadOnlySpan<char> path)
    {
        int g = 0, p = 0, star = -1, mark = 0;
        while (p < path.Length)
        {
            if (g < glob.Length && glob[g] == '*') { star = g++; mark = p; }
            else if (g < glob.Length && glob[g] == path[p]) { g++; p++; }
            else if (star >= 0) { g = star + 1; p = ++mark; }
            else return false;
        }
        while (g < glob.Length && glob[g] == '*') g++;
        return g == glob.Length;
    }
}

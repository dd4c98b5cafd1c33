using System.Text;
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
/// Request paths as URL filters see them: query and fragment dropped, unreserved percent-escapes decoded,
/// dot segments resolved, and ambiguous forms (encoded slash or backslash, NUL, control characters) refused,
/// so "/repos/contoso/../evil" cannot pass a filter for "/repos/contoso/*".
/// </summary>
public static class UrlPath
{
    public const int MaxLength = 8192;

    public static bool TryNormalize(string target, out string path, out string? error)
    {
        path = "/";
        if (target.Contains('#')) { error = "fragment ('#') in a request target"; return false; }
        var end = target.IndexOf('?');
        var raw = end >= 0 ? target[..end] : target;
        if (raw.Length == 0) raw = "/";
        if (raw.Length > MaxLength) { error = "path too long"; return false; }
        if (raw[0] != '/') { error = "path must start with '/'"; return false; }
        var decoded = new StringBuilder(raw.Length);
        for (var i = 0; i < raw.Length; i++)
        {
            var c = raw[i];
            if (c < 0x21 || c == 0x7F || c == '\\') { error = "control character, space or backslash in path"; return false; }
            if (c == '%')
            {
                if (i + 2 >= raw.Length || !IsHex(raw[i + 1]) || !IsHex(raw[i + 2])) { error = "bad percent-escape in path"; return false; }
                var b = (char)Convert.ToByte(raw.Substring(i + 1, 2), 16);
                if (b is '/' or '\\' or '\0' or '.') { error = "encoded '/', '\\', '.' or NUL in path"; return false; }
                if (b == '%' && i + 4 < raw.Length && IsHex(raw[i + 3]) && IsHex(raw[i + 4])) { error = "double percent-encoding in path"; return false; }
                if (b >= 0x80 && !IsValidUtf8Run(raw, i)) { error = "percent-encoded bytes that are not UTF-8 in path"; return false; }
                if (char.IsAsciiLetterOrDigit(b) || b is '-' or '_' or '~')
                {
                    decoded.Append(b);
                }
                else
                {
                    decoded.Append('%').Append(char.ToUpperInvariant(raw[i + 1])).Append(char.ToUpperInvariant(raw[i + 2]));
                }
                i += 2;
                continue;
            }
            decoded.Append(c);
        }
        var text = decoded.ToString();
        var segments = text.Split('/');
        for (var s = 1; s < segments.Length; s++)
        {
            if (segments[s].Length == 0 && s < segments.Length - 1) { error = "empty path segment ('//')"; return false; }
            var beforeParams = segments[s].Split(';')[0];
            if (segments[s].Contains(';') && beforeParams is "." or "..") { error = "dot segment with parameters ('..;')"; return false; }
        }
        path = RemoveDotSegments(text);
        error = null;
        return true;
    }

    // A run of %XX escapes starting at i whose bytes are 0x80 or above must be one valid UTF-8 sequence (no overlongs).
    private static bool IsValidUtf8Run(string raw, int i)
    {
        var bytes = new List<byte>();
        while (i + 2 < raw.Length && raw[i] == '%' && IsHex(raw[i + 1]) && IsHex(raw[i + 2]))
        {
            var b = Convert.ToByte(raw.Substring(i + 1, 2), 16);
            if (b < 0x80) break;
            bytes.Add(b);
            i += 3;
        }
        try
        {
            _ = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes.ToArray());
            return true;
        }
        catch (DecoderFallbackException)
        {
            return false;
        }
    }

    private static bool IsHex(char c) => char.IsAsciiHexDigit(c);

    // RFC 3986 section 5.2.4, on an absolute path.
    private static string RemoveDotSegments(string path)
    {
        var segments = path.Split('/');
        var output = new List<string>(segments.Length);
        for (var i = 1; i < segments.Length; i++)
        {
            var segment = segments[i];
            var last = i == segments.Length - 1;
            if (segment == ".")
            {
                if (last) output.Add("");
                continue;
            }
            if (segment == "..")
            {
                if (output.Count > 0) output.RemoveAt(output.Count - 1);
                if (last) output.Add("");
                continue;
            }
            output.Add(segment);
        }
        return "/" + string.Join('/', output);
    }

    /// <summary>Glob match where '*' stands for any run of characters, '/' included; case-sensitive.</summary>
    public static bool GlobMatches(string glob, string path)
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

using System.Buffers;
using System.Buffers.Text;
using System.Text;

namespace Corral.Policy.Inspection;

/// <summary>
/// The ways a receiving side turns the bytes of a request into the values it reads, each undone on a window of
/// text: backslash escapes (JSON, and the JavaScript and Python spellings a lenient parser takes), percent-encoding
/// (URLs and form bodies, <c>+</c> as space), XML/HTML character references, and runs of base64, base64url or hex.
/// Each returns null when it would change nothing, so text with nothing encoded costs one vectorized search.
/// </summary>
internal static class DecodedViews
{
    /// <summary>Shorter base64 runs cannot hide the shortest secret a pattern knows (a 20-character key id).</summary>
    public const int MinBase64Run = 24;

    /// <summary>Hex of a 20-character key id is 40 digits; 32 also covers 16-byte secrets.</summary>
    public const int MinHexRun = 32;

    // Line breaks belong to a run: MIME base64 (a multipart part, a PEM body) breaks lines every 76 characters and
    // decoders skip them, so a secret must not hide across one.
    private static readonly SearchValues<char> Base64Chars = SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_\r\n");
    private static readonly SearchValues<char> HexChars = SearchValues.Create("0123456789ABCDEFabcdef");
    private static readonly SearchValues<char> PercentTriggers = SearchValues.Create("%+");

    /// <summary>Backslash escapes undone: <c>\uXXXX</c>, <c>\u{X…}</c>, <c>\xHH</c>, <c>\n</c> and the rest; an unknown escape yields its character.</summary>
    public static string? Unescape(ReadOnlySpan<char> text)
    {
        var first = text.IndexOf('\\');
        if (first < 0) return null;
        var sb = new StringBuilder(text.Length);
        sb.Append(text[..first]);
        for (var i = first; i < text.Length; i++)
        {
            var c = text[i];
            if (c != '\\' || i + 1 >= text.Length)
            {
                sb.Append(c);
                continue;
            }
            var e = text[++i];
            switch (e)
            {
                case 'n': sb.Append('\n'); break;
                case 'r': sb.Append('\r'); break;
                case 't': sb.Append('\t'); break;
                case 'b': sb.Append('\b'); break;
                case 'f': sb.Append('\f'); break;
                case '0': sb.Append('\0'); break;
                case 'u' when i + 1 < text.Length && text[i + 1] == '{':
                {
                    var close = text[(i + 2)..].IndexOf('}');
                    if (close is > 0 and <= 6 && TryHex(text.Slice(i + 2, close), out var cp) && cp <= 0x10FFFF && cp is < 0xD800 or > 0xDFFF)
                    {
                        sb.Append(char.ConvertFromUtf32(cp));
                        i += close + 2;
                    }
                    else sb.Append(e);
                    break;
                }
                case 'u' when i + 4 < text.Length && TryHex(text.Slice(i + 1, 4), out var unit):
                    sb.Append((char)unit);
                    i += 4;
                    break;
                case 'x' when i + 2 < text.Length && TryHex(text.Slice(i + 1, 2), out var b):
                    sb.Append((char)b);
                    i += 2;
                    break;
                default: sb.Append(e); break; // \" \\ \/ and any other: the character itself
            }
        }
        return sb.ToString();
    }

    /// <summary>Percent-encoding undone (<c>%HH</c> as the byte HH, shown as Latin-1) and <c>+</c> read as a space, as forms and queries are read.</summary>
    public static string? PercentDecode(ReadOnlySpan<char> text)
    {
        var first = text.IndexOfAny(PercentTriggers);
        if (first < 0) return null;
        var sb = new StringBuilder(text.Length);
        sb.Append(text[..first]);
        for (var i = first; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '+') sb.Append(' ');
            else if (c == '%' && i + 2 < text.Length && TryHex(text.Slice(i + 1, 2), out var b))
            {
                sb.Append((char)b);
                i += 2;
            }
            else sb.Append(c);
        }
        return sb.ToString();
    }

    /// <summary>XML and HTML character references undone: <c>&amp;#65;</c>, <c>&amp;#x41;</c> and the five XML entities.</summary>
    public static string? UnescapeCharacterReferences(ReadOnlySpan<char> text)
    {
        var first = text.IndexOf('&');
        if (first < 0 || (text.IndexOf("&#") < 0 && text.IndexOf("&amp;") < 0 && text.IndexOf("&lt;") < 0 && text.IndexOf("&gt;") < 0
            && text.IndexOf("&quot;") < 0 && text.IndexOf("&apos;") < 0)) return null;
        var sb = new StringBuilder(text.Length);
        sb.Append(text[..first]);
        for (var i = first; i < text.Length; i++)
        {
            var c = text[i];
            var semicolon = c == '&' ? text[i..].Slice(0, Math.Min(12, text.Length - i)).IndexOf(';') : -1;
            if (semicolon < 0)
            {
                sb.Append(c);
                continue;
            }
            var name = text.Slice(i + 1, semicolon - 1);
            int value;
            if (name.Length > 1 && name[0] == '#' && (name[1] is 'x' or 'X') ? TryHex(name[2..], out value)
                : name.Length > 1 && name[0] == '#' ? int.TryParse(name[1..], System.Globalization.NumberStyles.None, null, out value)
                : TryNamed(name, out value))
            {
                if (value is > 0 and <= 0x10FFFF and (< 0xD800 or > 0xDFFF)) sb.Append(char.ConvertFromUtf32(value));
                i += semicolon;
            }
            else sb.Append(c);
        }
        return sb.ToString();
    }

    private static bool TryNamed(ReadOnlySpan<char> name, out int value)
    {
        value = name switch { "amp" => '&', "lt" => '<', "gt" => '>', "quot" => '"', "apos" => '\'', _ => 0 };
        return value != 0;
    }

    /// <summary>Whether the text holds a run of base64 characters long enough to decode (one pass over a lookup table; no allocation).</summary>
    public static bool HasLongRun(ReadOnlySpan<char> text)
    {
        var run = 0;
        foreach (var c in text)
        {
            if (c < 128 && IsBase64Char[c])
            {
                if (++run >= MinBase64Run) return true;
            }
            else run = 0;
        }
        return false;
    }

    private static readonly bool[] IsBase64Char = Enumerable.Range(0, 128).Select(c => Base64Chars.Contains((char)c)).ToArray();

    /// <summary>Whether decoded bytes read as text (nine in ten characters printable or whitespace), and so are worth decoding further.</summary>
    public static bool IsMostlyText(string text)
    {
        var printable = 0;
        foreach (var c in text) if (c is >= ' ' and < (char)0x7F or '\t' or '\n' or '\r') printable++;
        return printable * 10 >= text.Length * 9;
    }

    /// <summary>
    /// Each long run of base64 (or base64url) and of hex digits in <paramref name="text"/>, decoded. A run that starts
    /// the window may have been cut anywhere, so it is decoded at every alignment.
    /// </summary>
    public static IEnumerable<byte[]> DecodeRuns(string text)
    {
        var at = 0;
        while (at < text.Length)
        {
            var start = text.AsSpan(at).IndexOfAny(Base64Chars);
            if (start < 0) yield break;
            start += at;
            var length = text.AsSpan(start).IndexOfAnyExcept(Base64Chars);
            if (length < 0) length = text.Length - start;
            at = start + length;
            if (length < MinBase64Run) continue;
            var cut = start == 0;
            var run = text.AsSpan(start, length);
            var broken = run.ContainsAny('\r', '\n');
            // A run cut by the window, or one that joins lines (a word before a MIME body), may start anywhere in its groups.
            var lines = broken ? string.Concat(run.ToString().Split('\r', '\n')) : null;
            foreach (var shift in cut || broken ? [0, 1, 2, 3] : new[] { 0 })
            {
                var usable = lines is null ? text.AsSpan(start + shift, length - shift) : lines.AsSpan(Math.Min(shift, lines.Length));
                if (usable.Length >= MinBase64Run && Base64Decode(usable) is { Length: > 0 } bytes) yield return bytes;
            }
            foreach (var hex in HexRuns(text, start, length, cut))
                yield return hex;
        }
    }

    private static IEnumerable<byte[]> HexRuns(string text, int start, int length, bool cut)
    {
        var end = start + length;
        var at = start;
        while (at < end)
        {
            var s = text.AsSpan(at, end - at).IndexOfAny(HexChars);
            if (s < 0) yield break;
            s += at;
            var n = text.AsSpan(s, end - s).IndexOfAnyExcept(HexChars);
            if (n < 0) n = end - s;
            at = s + n;
            if (n < MinHexRun) continue;
            foreach (var shift in cut && s == 0 ? [0, 1] : new[] { 0 })
                yield return HexDecode(text.AsSpan(s + shift, (n - shift) & ~1));
        }
    }

    /// <summary>Base64 or base64url, with or without padding; a trailing partial group yields the bytes it holds whole.</summary>
    private static byte[]? Base64Decode(ReadOnlySpan<char> run)
    {
        var whole = run.Length & ~3;
        var ascii = new byte[whole];
        Encoding.ASCII.GetBytes(run[..whole], ascii); // the run is base64 characters only, all ASCII
        ascii.AsSpan().Replace((byte)'-', (byte)'+');
        ascii.AsSpan().Replace((byte)'_', (byte)'/');
        var rest = run[whole..];
        var bytes = new byte[whole / 4 * 3 + (rest.Length > 1 ? rest.Length - 1 : 0)];
        if (Base64.DecodeFromUtf8(ascii, bytes, out _, out var written) != OperationStatus.Done) return null;
        // Two or three characters left: one or two bytes, whatever the unused low bits say (decoders ignore them).
        if (rest.Length >= 2) bytes[written++] = (byte)(Base64Value(rest[0]) << 2 | Base64Value(rest[1]) >> 4);
        if (rest.Length == 3) bytes[written++] = (byte)((Base64Value(rest[1]) & 0xF) << 4 | Base64Value(rest[2]) >> 2);
        return bytes[..written];
    }

    private static int Base64Value(char c) => c switch
    {
        >= 'A' and <= 'Z' => c - 'A',
        >= 'a' and <= 'z' => c - 'a' + 26,
        >= '0' and <= '9' => c - '0' + 52,
        '+' or '-' => 62,
        _ => 63,
    };

    private static byte[] HexDecode(ReadOnlySpan<char> run)
    {
        var bytes = new byte[run.Length / 2];
        for (var i = 0; i < bytes.Length; i++)
            bytes[i] = (byte)((HexValue(run[2 * i]) << 4) | HexValue(run[2 * i + 1]));
        return bytes;
    }

    /// <summary>Decoded bytes as the text a reader would see: Latin-1 (one char per byte), and UTF-16LE too when every other byte is zero (PowerShell's -EncodedCommand).</summary>
    public static IEnumerable<string> AsText(byte[] bytes)
    {
        yield return Encoding.Latin1.GetString(bytes);
        if (bytes.Length >= 8)
        {
            var zeros = 0;
            for (var i = 1; i < bytes.Length; i += 2) if (bytes[i] == 0) zeros++;
            if (zeros * 4 >= bytes.Length) yield return Encoding.Unicode.GetString(bytes);
        }
    }

    private static bool TryHex(ReadOnlySpan<char> digits, out int value)
    {
        value = 0;
        if (digits.IsEmpty || digits.Length > 8) return false;
        foreach (var d in digits)
        {
            var v = HexValue(d);
            if (v < 0) return false;
            value = (value << 4) | v;
        }
        return true;
    }

    private static int HexValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };
}

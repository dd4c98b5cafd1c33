using System.Text;

namespace Corral.Policy.Inspection;

/// <summary>
/// Which text encoding a body is read in, when it is not one that spells ASCII as ASCII (so the raw bytes already show
/// every secret): the charset its Content-Type declares, else a byte-order mark, else the zero-byte shape of UTF-16
/// or UTF-32 text that starts with an ASCII character (RFC 4627 section 3). Null: the raw bytes are the text.
/// </summary>
public static class BodyCharset
{
    /// <summary>Bytes needed to recognise a byte-order mark or the zero-byte shape.</summary>
    public const int SniffBytes = 4;

    private static readonly byte[] AsciiProbe = Encoding.ASCII.GetBytes("AZaz09+/=-_:\"{ ");

    /// <summary>The charset a Content-Type declares, when it is not read as ASCII; null otherwise, or when the name is unknown (the body is then opaque bytes).</summary>
    public static Encoding? Declared(string? contentType)
    {
        if (contentType is null) return null;
        foreach (var part in contentType.Split(';').Skip(1))
        {
            var eq = part.IndexOf('=');
            if (eq < 0 || !part[..eq].Trim().Equals("charset", StringComparison.OrdinalIgnoreCase)) continue;
            var name = part[(eq + 1)..].Trim().Trim('"').Trim();
            var encoding = Lookup(name);
            return encoding is null || SpellsAsciiAsAscii(encoding) ? null : encoding;
        }
        return null;
    }

    /// <summary>The encoding the first bytes of a body show (byte-order mark or zero-byte shape), when it is not ASCII-compatible.</summary>
    public static Encoding? Sniff(ReadOnlySpan<byte> start)
    {
        if (start.Length >= 4 && start[0] == 0xFF && start[1] == 0xFE && start[2] == 0 && start[3] == 0) return new UTF32Encoding(false, true);
        if (start.Length >= 4 && start[0] == 0 && start[1] == 0 && start[2] == 0xFE && start[3] == 0xFF) return new UTF32Encoding(true, true);
        if (start.Length >= 2 && start[0] == 0xFF && start[1] == 0xFE) return new UnicodeEncoding(false, true);
        if (start.Length >= 2 && start[0] == 0xFE && start[1] == 0xFF) return new UnicodeEncoding(true, true);
        if (start.Length < 4) return null;
        return (start[0] == 0, start[1] == 0, start[2] == 0, start[3] == 0) switch
        {
            (true, true, true, false) => new UTF32Encoding(true, false),
            (false, true, true, true) => new UTF32Encoding(false, false),
            (true, false, true, false) => new UnicodeEncoding(true, false),
            (false, true, false, true) => new UnicodeEncoding(false, false),
            _ => null,
        };
    }

    private static Encoding? Lookup(string name)
    {
        if (name.Length == 0) return null;
        try
        {
            // The code-page provider is asked directly, not registered: no process-wide state changes.
            return System.Text.CodePagesEncodingProvider.Instance.GetEncoding(name) ?? Encoding.GetEncoding(name);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException)
        {
            return null;
        }
    }

    private static bool SpellsAsciiAsAscii(Encoding encoding)
    {
        try
        {
            return encoding.GetString(AsciiProbe) == Encoding.ASCII.GetString(AsciiProbe) && encoding.GetByteCount("A") == 1;
        }
        catch (Exception e) when (e is ArgumentException or DecoderFallbackException)
        {
            return false;
        }
    }
}

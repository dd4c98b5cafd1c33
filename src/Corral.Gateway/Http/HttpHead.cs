using System.Buffers;
using System.Text;

namespace Corral.Gateway.Http;

/// <summary>A parsed HTTP/1.x request or response head: the start line's three parts and the header fields, in order.</summary>
internal sealed class HttpHead
{
    /// <summary>Method for a request, "HTTP/1.x" for a response.</summary>
    public required string First { get; init; }
    /// <summary>Request target, or the status code.</summary>
    public required string Second { get; init; }
    /// <summary>"HTTP/1.x" for a request, the reason phrase for a response.</summary>
    public required string Third { get; init; }
    public required List<KeyValuePair<string, string>> Headers { get; init; }
    /// <summary>Bytes of the head including the blank line.</summary>
    public required int Length { get; init; }

    public string? Get(string name)
    {
        string? found = null;
        foreach (var (k, v) in Headers)
        {
            if (!k.Equals(name, StringComparison.OrdinalIgnoreCase)) continue;
            if (found is not null && found != v) return null; // caller treats conflicting duplicates via Count
            found = v;
        }
        return found;
    }

    public int Count(string name) => Headers.Count(h => h.Key.Equals(name, StringComparison.OrdinalIgnoreCase));

    /// <summary>Whether a comma-separated header (Connection, Transfer-Encoding) lists the token.</summary>
    public bool HasToken(string name, string token)
    {
        foreach (var (k, v) in Headers)
            if (k.Equals(name, StringComparison.OrdinalIgnoreCase))
                foreach (var part in v.Split(','))
                    if (part.Trim().Equals(token, StringComparison.OrdinalIgnoreCase)) return true;
        return false;
    }
}

/// <summary>
/// Parses one HTTP/1.x head strictly: CRLF line ends, token header names, no whitespace before the colon, no
/// obsolete line folding. Anything else is invalid: a proxy that is lenient where the upstream is strict (or the
/// reverse) is how request smuggling starts.
/// </summary>
internal sealed class HttpHeadParser(bool isRequest) : IPrefixParser
{
    private static readonly byte[] EndOfHead = "\r\n\r\n"u8.ToArray();

    public HttpHead? Head { get; private set; }
    public string? Error { get; private set; }

    public ParseStatus TryParse(in ReadOnlySequence<byte> buffer)
    {
        var reader = new SequenceReader<byte>(buffer);
        if (!reader.TryReadTo(out ReadOnlySequence<byte> body, EndOfHead, advancePastDelimiter: true))
        {
            // Judge the start line as soon as it is complete: a stream that is not HTTP (an SSH banner, garbage) is
            // told apart at once instead of after the head timeout.
            var lineReader = new SequenceReader<byte>(buffer);
            if (lineReader.TryReadTo(out ReadOnlySequence<byte> firstLine, "\r\n"u8, advancePastDelimiter: false) &&
                !StartLineLooksValid(Encoding.Latin1.GetString(firstLine)))
                return Fail("malformed start line");
            return ParseStatus.NeedMore;
        }
        var length = (int)reader.Consumed;
        var text = Encoding.Latin1.GetString(body);
        var lines = text.Split("\r\n");
        var start = lines[0].Split(' ', 3);
        if (start.Length != 3 || start[0].Length == 0 || start[1].Length == 0) return Fail("malformed start line");
        if (isRequest)
        {
            if (!IsToken(start[0])) return Fail("malformed method");
            if (start[2] is not ("HTTP/1.1" or "HTTP/1.0")) return Fail("not HTTP/1.0 or HTTP/1.1");
            if (start[1].Any(c => c <= ' ' || c >= 0x7F)) return Fail("control character or space in request target");
        }
        else
        {
            if (start[0] is not ("HTTP/1.1" or "HTTP/1.0") || start[1].Length != 3 || !start[1].All(char.IsAsciiDigit)) return Fail("malformed status line");
        }
        var headers = new List<KeyValuePair<string, string>>(lines.Length);
        for (var i = 1; i < lines.Length; i++)
        {
            var line = lines[i];
            var colon = line.IndexOf(':');
            if (colon <= 0) return Fail("header line without a name and colon");
            var name = line[..colon];
            if (!IsToken(name)) return Fail($"malformed header name '{Printable(name)}'");
            var value = line[(colon + 1)..].Trim(' ', '\t');
            if (value.Any(c => (c < ' ' && c != '\t') || c == 0x7F)) return Fail($"control character in header '{name}'");
            headers.Add(new(name, value));
        }
        Head = new HttpHead { First = start[0], Second = start[1], Third = start[2], Headers = headers, Length = length };
        return ParseStatus.Done;
    }

    private bool StartLineLooksValid(string line)
    {
        var parts = line.Split(' ', 3);
        if (parts.Length != 3 || parts[0].Length == 0 || parts[1].Length == 0) return false;
        return isRequest
            ? IsToken(parts[0]) && parts[2] is "HTTP/1.1" or "HTTP/1.0"
            : parts[0] is "HTTP/1.1" or "HTTP/1.0";
    }

    private ParseStatus Fail(string error)
    {
        Error = error;
        return ParseStatus.Invalid;
    }

    private static bool IsToken(string s) => s.Length > 0 && s.All(c => c < 0x7F && (char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c)));

    internal static string Printable(string s) => new(s.Take(64).Select(c => c is >= ' ' and < (char)0x7F ? c : '?').ToArray());
}

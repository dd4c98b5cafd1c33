using System.Buffers;
using System.Text;

namespace Corral.Interception.Http;

/// <summary>Limits on what a peer may send in one head.</summary>
public sealed record HttpLimits
{
    public int MaxHeadBytes { get; init; } = 32 * 1024;
    public int MaxHeaderCount { get; init; } = 100;
}

/// <summary>
/// A strict HTTP/1.1 head parser (RFC 9112) for traffic Corral inspects: CRLF line endings only, no obsolete line
/// folding, no control characters, no whitespace before the colon, one Host, and no framing ambiguity (conflicting
/// Content-Length and Transfer-Encoding, duplicate Content-Length, or any transfer coding but chunked) — the inputs
/// request smuggling is made of. Anything else is refused with the status to answer.
/// </summary>
public static class Http1Parser
{
    private static ReadOnlySpan<byte> CrLfCrLf => "\r\n\r\n"u8;

    /// <summary>Finds a complete head in <paramref name="buffer"/>; false when more bytes are needed.</summary>
    public static bool TryReadHead(ReadOnlySequence<byte> buffer, HttpLimits limits, out ReadOnlySequence<byte> head, out SequencePosition afterHead)
    {
        var reader = new SequenceReader<byte>(buffer);
        // RFC 9112 section 2.2: empty lines before a request line are ignored (clients send them after a POST body).
        // They are part of this message: skipped here, never mistaken for "not HTTP".
        while (reader.IsNext("\r\n"u8, advancePast: true))
            if (reader.Consumed > limits.MaxHeadBytes) throw new HttpMessageRefusedException(431, $"head larger than {limits.MaxHeadBytes} bytes");
        if (reader.End || reader.Remaining == 1 && reader.IsNext((byte)'\r'))
        {
            head = default;
            afterHead = buffer.Start;
            return false;
        }
        buffer = buffer.Slice(reader.Position);
        var complete = reader.TryReadTo(out ReadOnlySequence<byte> found, CrLfCrLf, advancePastDelimiter: true);
        // A bare LF would otherwise leave us waiting for a CRLFCRLF that never comes; refuse it at once.
        if (HasBareLineFeed(complete ? found : buffer)) throw new HttpMessageRefusedException(400, "bare LF in the head (lines end with CRLF)");
        if (complete)
        {
            if (found.Length + 4 > limits.MaxHeadBytes) throw new HttpMessageRefusedException(431, $"head larger than {limits.MaxHeadBytes} bytes");
            head = found;
            afterHead = reader.Position;
            return true;
        }
        if (buffer.Length > limits.MaxHeadBytes) throw new HttpMessageRefusedException(431, $"head larger than {limits.MaxHeadBytes} bytes");
        head = default;
        afterHead = buffer.Start;
        return false;
    }

    private static bool HasBareLineFeed(ReadOnlySequence<byte> bytes)
    {
        var previous = (byte)0;
        foreach (var segment in bytes)
            foreach (var b in segment.Span)
            {
                if (b == (byte)'\n' && previous != (byte)'\r') return true;
                previous = b;
            }
        return false;
    }

    public static HttpRequestHead ParseRequest(ReadOnlySequence<byte> head, HttpLimits limits)
    {
        var lines = SplitLines(head);
        var parts = lines[0].Split(' ');
        if (parts.Length != 3) throw new HttpMessageRefusedException(400, "malformed request line");
        var (method, target, version) = (parts[0], parts[1], parts[2]);
        if (method.Length == 0 || !method.All(IsTokenChar)) throw new HttpMessageRefusedException(400, "malformed method");
        if (target.Length == 0 || target.Any(c => c <= ' ' || c >= 0x7F)) throw new HttpMessageRefusedException(400, "malformed request target");
        if (version is not ("HTTP/1.1" or "HTTP/1.0")) throw new HttpMessageRefusedException(505, $"unsupported version '{Printable(version)}'");
        var headers = ParseHeaders(lines, limits);
        var hosts = HttpHeaders.Values(headers, "Host").ToList();
        if (hosts.Count > 1) throw new HttpMessageRefusedException(400, "more than one Host header");
        // Host is required of HTTP/1.1 (RFC 9112 section 3.2); a CONNECT names its target in the request line, and an
        // HTTP/1.0 request to a proxy in its absolute-form target.
        var hostOptional = method == "CONNECT" || (version == "HTTP/1.0" && !target.StartsWith('/'));
        if (hosts.Count == 0 && !hostOptional) throw new HttpMessageRefusedException(400, "missing Host header");
        var (framing, length) = RequestFraming(headers);
        return new HttpRequestHead(method, target, version, headers, framing, length, hosts.Count == 1 ? hosts[0] : null);
    }

    public static HttpResponseHead ParseResponse(ReadOnlySequence<byte> head, HttpLimits limits, string requestMethod)
    {
        var lines = SplitLines(head);
        var line = lines[0];
        if (line.Length < 12 || !(line.StartsWith("HTTP/1.1 ", StringComparison.Ordinal) || line.StartsWith("HTTP/1.0 ", StringComparison.Ordinal)) ||
            !int.TryParse(line.AsSpan(9, 3), System.Globalization.NumberStyles.None, null, out var status) || status < 100 || (line.Length > 12 && line[12] != ' '))
            throw new HttpMessageRefusedException(502, "malformed upstream status line");
        var headers = ParseHeaders(lines, limits);
        BodyFraming framing;
        long length = 0;
        if (requestMethod == "HEAD" || status is (>= 100 and < 200) or 204 or 304) framing = BodyFraming.None;
        else
        {
            (framing, length) = RequestFraming(headers, response: true);
            if (framing == BodyFraming.None && !headers.Any(h => h.Name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)))
                framing = BodyFraming.UntilClose;
        }
        return new HttpResponseHead(line[..8], status, line.Length > 13 ? line[13..] : "", headers, framing, length);
    }

    private static (BodyFraming, long) RequestFraming(List<HttpHeader> headers, bool response = false)
    {
        var lengths = HttpHeaders.Values(headers, "Content-Length").ToList();
        var codings = HttpHeaders.Values(headers, "Transfer-Encoding").ToList();
        var status = response ? 502 : 400;
        if (codings.Count > 0)
        {
            if (lengths.Count > 0) throw new HttpMessageRefusedException(status, "both Content-Length and Transfer-Encoding");
            var tokens = codings.SelectMany(c => c.Split(',')).Select(t => t.Trim()).ToList();
            if (tokens.Count != 1 || !tokens[0].Equals("chunked", StringComparison.OrdinalIgnoreCase))
                throw new HttpMessageRefusedException(response ? 502 : 501, $"unsupported Transfer-Encoding '{Printable(string.Join(",", codings))}'");
            return (BodyFraming.Chunked, 0);
        }
        if (lengths.Count > 1) throw new HttpMessageRefusedException(status, "more than one Content-Length");
        if (lengths.Count == 1)
        {
            var text = lengths[0];
            if (text.Length is 0 or > 18 || !text.All(char.IsAsciiDigit)) throw new HttpMessageRefusedException(status, "malformed Content-Length");
            var length = long.Parse(text, System.Globalization.CultureInfo.InvariantCulture);
            return (length == 0 ? BodyFraming.None : BodyFraming.ContentLength, length);
        }
        return (BodyFraming.None, 0);
    }

    private static List<HttpHeader> ParseHeaders(List<string> lines, HttpLimits limits)
    {
        if (lines.Count - 1 > limits.MaxHeaderCount) throw new HttpMessageRefusedException(431, $"more than {limits.MaxHeaderCount} header fields");
        var headers = new List<HttpHeader>(lines.Count - 1);
        for (var i = 1; i < lines.Count; i++)
        {
            var line = lines[i];
            if (line.Length == 0) throw new HttpMessageRefusedException(400, "empty header line");
            if (line[0] is ' ' or '\t') throw new HttpMessageRefusedException(400, "obsolete line folding");
            var colon = line.IndexOf(':');
            if (colon <= 0) throw new HttpMessageRefusedException(400, "header line without a name");
            var name = line[..colon];
            if (!name.All(IsTokenChar)) throw new HttpMessageRefusedException(400, "malformed header name (whitespace before ':'?)");
            var value = line[(colon + 1)..].Trim(' ', '\t');
            if (value.Any(c => (c < 0x20 && c != '\t') || c == 0x7F)) throw new HttpMessageRefusedException(400, "control character in a header value");
            headers.Add(new HttpHeader(name, value));
        }
        return headers;
    }

    // Lines split on CRLF only; a bare CR or LF anywhere is an error (an old smuggling vector).
    private static List<string> SplitLines(ReadOnlySequence<byte> head)
    {
        var text = Encoding.Latin1.GetString(head);
        var lines = new List<string>();
        var start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '\r' && i + 1 < text.Length && text[i + 1] == '\n')
            {
                lines.Add(text[start..i]);
                start = i + 2;
                i++;
            }
            else if (text[i] is '\r' or '\n' or '\0') throw new HttpMessageRefusedException(400, "bare CR, LF or NUL in the head");
        }
        lines.Add(text[start..]);
        if (lines[0].Length == 0) throw new HttpMessageRefusedException(400, "empty request line");
        return lines;
    }

    private static bool IsTokenChar(char c) =>
        c is >= 'a' and <= 'z' or >= 'A' and <= 'Z' or >= '0' and <= '9' or '!' or '#' or '$' or '%' or '&' or '\'' or '*' or '+' or '-' or '.' or '^' or '_' or '`' or '|' or '~';

    private static string Printable(string s) => new(s.Take(40).Select(c => c is >= ' ' and < (char)0x7F ? c : '?').ToArray());
}

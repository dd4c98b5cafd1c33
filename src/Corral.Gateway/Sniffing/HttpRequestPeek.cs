using System.Buffers;
using Corral.Interception.Http;

namespace Corral.Gateway.Sniffing;

/// <summary>
/// Peeks at a request head through the one HTTP/1.1 parser (<see cref="Http1Parser"/>), without consuming it: the
/// head, parsed once here, is handed to the request pipeline (<see cref="Parsed"/>), which consumes its bytes. Tells a stream that is not HTTP at all (its first line is complete and
/// is no request line) from HTTP the parser refuses.
/// </summary>
internal sealed class HttpRequestPeek(HttpLimits limits) : IPrefixParser
{
    /// <summary>The head and its length as framed, with any empty lines before it: what to consume once it is kept.</summary>
    public Interception.ParsedRequest? Parsed { get; private set; }

    /// <summary>Why the parser refused the head, and the status to answer.</summary>
    public string? Error { get; private set; }
    public int Status { get; private set; } = 400;

    /// <summary>The first line is complete and is not an HTTP request line: another protocol, not bad HTTP.</summary>
    public bool NotHttp { get; private set; }

    public ParseStatus TryParse(in ReadOnlySequence<byte> buffer)
    {
        try
        {
            if (Http1Parser.TryReadHead(buffer, limits, out var head, out var after))
            {
                Parsed = new(Http1Parser.ParseRequest(head, limits), (int)buffer.Slice(0, after).Length);
                return ParseStatus.Done;
            }
            if (FirstLineIsNoRequestLine(buffer))
            {
                NotHttp = true;
                Error = "not an HTTP request line";
                return ParseStatus.Invalid;
            }
            return ParseStatus.NeedMore;
        }
        catch (HttpMessageRefusedException e)
        {
            Error = e.Message;
            Status = e.Status;
            return ParseStatus.Invalid;
        }
    }

    // Another protocol only when its first line, once ended, could not be taken for a request line by any lenient HTTP
    // server: no "HTTP/" in it and no method word followed by white space (HTTP/0.9's "GET /path" has no version).
    // Anything else is HTTP and must pass the strict parser: "GET  / HTTP/1.1" is refused, never spliced.
    private static bool FirstLineIsNoRequestLine(in ReadOnlySequence<byte> buffer)
    {
        var reader = new SequenceReader<byte>(buffer);
        while (reader.IsNext("\r\n"u8, advancePast: true)) { }
        if (!reader.TryReadTo(out ReadOnlySequence<byte> line, "\r\n"u8, advancePastDelimiter: false)
            && !reader.TryReadTo(out line, (byte)'\n', advancePastDelimiter: false)) return false;
        var text = System.Text.Encoding.Latin1.GetString(line.ToArray());
        if (text.Contains("HTTP/", StringComparison.OrdinalIgnoreCase)) return false;
        var word = text.AsSpan(0, text.AsSpan().IndexOfAny(' ', '\t') is var end and >= 0 ? end : text.Length);
        foreach (var method in Methods)
            if (word.Equals(method, StringComparison.OrdinalIgnoreCase) && word.Length < text.Length) return false;
        return true;
    }

    private static readonly string[] Methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "PRI"];
}

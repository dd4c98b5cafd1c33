using System.Buffers;
using Corral.Interception.Http;

namespace Corral.Gateway.Http;

/// <summary>
/// Peeks at a request head through the one HTTP/1.1 parser (<see cref="Http1Parser"/>), without consuming it: the
/// request pipeline reads the same bytes again. Tells a stream that is not HTTP at all (its first line is complete and
/// is no request line) from HTTP the parser refuses.
/// </summary>
internal sealed class HttpRequestPeek(HttpLimits limits) : IPrefixParser
{
    public HttpRequestHead? Head { get; private set; }

    /// <summary>Why the parser refused the head, and the status to answer.</summary>
    public string? Error { get; private set; }
    public int Status { get; private set; } = 400;

    /// <summary>The first line is complete and is not an HTTP request line: another protocol, not bad HTTP.</summary>
    public bool NotHttp { get; private set; }

    public ParseStatus TryParse(in ReadOnlySequence<byte> buffer)
    {
        try
        {
            if (Http1Parser.TryReadHead(buffer, limits, out var head, out _))
            {
                Head = Http1Parser.ParseRequest(head, limits);
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

    // "METHOD SP target SP HTTP/1.x" once the line (after any empty lines) has ended; anything else is not HTTP.
    private static bool FirstLineIsNoRequestLine(in ReadOnlySequence<byte> buffer)
    {
        var reader = new SequenceReader<byte>(buffer);
        while (reader.IsNext("\r\n"u8, advancePast: true)) { }
        if (!reader.TryReadTo(out ReadOnlySequence<byte> line, "\r\n"u8, advancePastDelimiter: false)) return false;
        var parts = System.Text.Encoding.Latin1.GetString(line.ToArray()).Split(' ');
        return parts.Length != 3 || parts[0].Length == 0 || !parts[2].StartsWith("HTTP/", StringComparison.Ordinal);
    }
}

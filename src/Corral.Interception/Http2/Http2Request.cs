using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using Corral.Interception.Http;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Corral.Interception.Http2;

/// <summary>
/// One HTTP/2 stream's request, as Kestrel parsed it, mapped into the request model every stage after read-and-frame
/// takes (<see cref="ParsedRequest"/>), so names, decision, shape, credentials, inspection, MCP and forwarding run
/// unchanged. What HTTP/2 allows but an HTTP/1.1 upstream would read differently (RFC 9113 section 8.2.2) is refused
/// here, never translated: connection-specific fields, framing fields, a Content-Length without a body, and any name,
/// value or path an HTTP/1.1 head could not carry as it is.
/// </summary>
internal static class Http2Request
{
    // Fields that are about one HTTP/1.1 connection: an HTTP/2 request carrying any is malformed (RFC 9113 8.2.2).
    // Kestrel refuses Connection and a TE other than "trailers" itself; the rest would reach an HTTP/1.1 upstream.
    private static readonly HashSet<string> ConnectionSpecific = new(StringComparer.OrdinalIgnoreCase)
        { "Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade" };

    /// <summary>The request mapped (bytes of its body still to come from the stream), or why it is refused.</summary>
    public readonly record struct Mapped(ParsedRequest? Request, Refusal? Refusal);

    public static async Task<Mapped> MapAsync(HttpContext context, RelayTarget target, CancellationToken ct)
    {
        var request = context.Request;
        Mapped Malformed(string why) => new(null, Refusal.ByCheck(GatewayCheck.Malformed, target.Authority, $"malformed HTTP/2 request: {why}", 400));

        if (request.Method == HttpMethods.Connect)
            return new(null, Refusal.ByCheck(GatewayCheck.Upgrade, target.Authority, "CONNECT over HTTP/2 (tunnels, WebSocket) cannot be inspected", 501));
        if (!IsToken(request.Method)) return Malformed("a method that is not a token");
        if (request.Scheme != "https") return Malformed($"the :scheme '{Refusal.Printable(request.Scheme)}' on a decrypted TLS flow (https only)");
        var path = context.Features.Get<IHttpRequestFeature>()!.RawTarget;
        if (!(path.StartsWith('/') || path == "*" && request.Method == HttpMethods.Options) || !IsVisibleAscii(path))
            return Malformed($"the :path '{Refusal.Printable(path)}' is not an origin-form target");

        var headers = new List<HttpHeader>();
        // Kestrel puts :authority in Host (and drops a Host header that differs): the one name the stream routes by.
        var host = request.Headers.Host.ToString();
        if (host.Length > 0)
        {
            if (!IsFieldValue(host)) return Malformed("an :authority with characters a Host header cannot carry");
            headers.Add(new HttpHeader("Host", host));
        }
        foreach (var (name, values) in request.Headers)
        {
            if (name.StartsWith(':') || name.Equals("Host", StringComparison.OrdinalIgnoreCase)) continue;
            if (FieldProblem(name, values) is { } problem) return Malformed(problem);
            // Framed below from what Kestrel counted; 100-continue is Kestrel's to answer on this hop.
            if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase) || name.Equals("Expect", StringComparison.OrdinalIgnoreCase)) continue;
            // Cookie may come split into several fields; HTTP/1.1 carries it as one (RFC 9113 8.2.3).
            if (name.Equals("Cookie", StringComparison.OrdinalIgnoreCase)) headers.Add(new HttpHeader(name, string.Join("; ", values.ToArray())));
            else foreach (var value in values) headers.Add(new HttpHeader(name, value ?? ""));
        }

        var canHaveBody = context.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody ?? true;
        BodyFraming framing;
        long length = 0;
        if (request.ContentLength is { } declared)
        {
            if (!canHaveBody && declared > 0) return Malformed("a Content-Length with no body");
            (framing, length) = (BodyFraming.ContentLength, declared);
            headers.Add(new HttpHeader("Content-Length", declared.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }
        else if (!canHaveBody || await BodyIsEmptyAsync(request.BodyReader, ct)) framing = BodyFraming.None;
        else
        {
            // A body of unknown length goes to the upstream chunked (the gateway's framing, so it is the only one).
            framing = BodyFraming.Chunked;
            headers.Add(new HttpHeader("Transfer-Encoding", "chunked"));
        }
        return new(new ParsedRequest(new HttpRequestHead(request.Method, path, "HTTP/1.1", headers, framing, length, host.Length > 0 ? host : null), 0), null);
    }

    // An HTTP/2 request with no Content-Length may still end at once (an empty DATA frame with END_STREAM): it has no body.
    private static async Task<bool> BodyIsEmptyAsync(PipeReader body, CancellationToken ct)
    {
        var first = await body.ReadAsync(ct);
        body.AdvanceTo(first.Buffer.Start);
        return first.IsCompleted && first.Buffer.IsEmpty;
    }

    /// <summary>Why a field (header or trailer) cannot go to an HTTP/1.1 upstream as it is; null when it can.</summary>
    public static string? FieldProblem(string name, Microsoft.Extensions.Primitives.StringValues values)
    {
        if (!IsToken(name)) return $"the field name '{Refusal.Printable(name)}' is not a token";
        if (ConnectionSpecific.Contains(name)) return $"the connection-specific field '{Refusal.Printable(name)}' (RFC 9113 section 8.2.2)";
        if (name.Equals("TE", StringComparison.OrdinalIgnoreCase) && values.Any(v => !"trailers".Equals(v?.Trim(), StringComparison.OrdinalIgnoreCase)))
            return "a TE field other than 'trailers' (RFC 9113 section 8.2.2)";
        foreach (var value in values)
            if (value is not null && !IsFieldValue(value)) return $"the field '{Refusal.Printable(name)}' has a value an HTTP/1.1 head cannot carry";
        return null;
    }

    private static bool IsToken(string s) => s.Length > 0 && s.All(c => c < 0x7F && c > ' ' && !"\"(),/:;<=>?@[\\]{}".Contains(c));

    private static bool IsVisibleAscii(string s) => s.All(c => c is > ' ' and < (char)0x7F);

    // Visible ASCII, spaces and tabs inside; no CR, LF, NUL or other controls, nothing outside ASCII, no padding.
    private static bool IsFieldValue(string s) =>
        s.All(c => c == '\t' || c is >= ' ' and < (char)0x7F) && (s.Length == 0 || s[0] is not (' ' or '\t') && s[^1] is not (' ' or '\t'));

    /// <summary>
    /// Copies the stream's body into the pipe the stages read, framed as the mapped head says (chunked: with the
    /// request's trailers, checked like headers, in the last chunk, where inspection reads them). A body Kestrel
    /// refuses (its Content-Length disagrees with its DATA) reaches the stages as a malformed body.
    /// </summary>
    public static async Task FeedAsync(HttpContext context, BodyFraming framing, PipeWriter into, CancellationToken ct)
    {
        var body = context.Request.BodyReader;
        try
        {
            if (framing == BodyFraming.None)
            {
                await into.CompleteAsync();
                return;
            }
            while (true)
            {
                var result = await body.ReadAsync(ct);
                var buffer = result.Buffer;
                if (!buffer.IsEmpty)
                {
                    if (framing == BodyFraming.Chunked) Write(into, $"{buffer.Length:x}\r\n");
                    foreach (var segment in buffer) into.Write(segment.Span);
                    if (framing == BodyFraming.Chunked) Write(into, "\r\n");
                }
                body.AdvanceTo(buffer.End);
                if ((await into.FlushAsync(ct)).IsCompleted) return; // the stages stopped reading
                if (result.IsCompleted) break;
            }
            if (framing == BodyFraming.Chunked)
            {
                var last = new StringBuilder("0\r\n");
                if (context.Features.Get<IHttpRequestTrailersFeature>() is { Available: true } trailers)
                    foreach (var (name, values) in trailers.Trailers)
                    {
                        if (FieldProblem(name, values) is { } problem || IsFramingField(name))
                            throw new HttpMessageRefusedException(400, $"HTTP/2 trailer: {FieldProblem(name, values) ?? $"the framing field '{Refusal.Printable(name)}'"}");
                        foreach (var value in values) last.Append(name).Append(": ").Append(value).Append("\r\n");
                    }
                Write(into, last.Append("\r\n").ToString());
            }
            await into.FlushAsync(ct);
            await into.CompleteAsync();
        }
        catch (HttpMessageRefusedException ex)
        {
            await into.CompleteAsync(ex);
        }
        catch (BadHttpRequestException ex)
        {
            await into.CompleteAsync(new HttpMessageRefusedException(400, $"HTTP/2 body: {ex.Message}"));
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or InvalidOperationException or Microsoft.AspNetCore.Connections.ConnectionAbortedException)
        {
            await into.CompleteAsync(new IOException($"the client's stream ended: {ex.Message}", ex));
        }
    }

    private static bool IsFramingField(string name) =>
        name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase) || name.Equals("Host", StringComparison.OrdinalIgnoreCase)
        || name.Equals("Trailer", StringComparison.OrdinalIgnoreCase) || name.Equals("Content-Encoding", StringComparison.OrdinalIgnoreCase);

    private static void Write(PipeWriter into, string ascii) => into.Write(Encoding.ASCII.GetBytes(ascii));
}

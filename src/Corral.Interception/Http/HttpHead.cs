namespace Corral.Interception.Http;

/// <summary>How a message's body is framed.</summary>
public enum BodyFraming { None, ContentLength, Chunked, UntilClose }

/// <summary>One header field as received (name case kept; compare case-insensitively).</summary>
public readonly record struct HttpHeader(string Name, string Value);

/// <summary>A parsed HTTP/1.1 request head.</summary>
public sealed record HttpRequestHead(string Method, string Target, string Version, IReadOnlyList<HttpHeader> Headers, BodyFraming Framing, long ContentLength, string? Host)
{
    /// <summary>The client asked to close after this request (or spoke HTTP/1.0 without keep-alive).</summary>
    public bool WantsClose => HttpHeaders.HasToken(Headers, "Connection", "close") || (Version == "HTTP/1.0" && !HttpHeaders.HasToken(Headers, "Connection", "keep-alive"));
}

/// <summary>A parsed HTTP/1.1 response head.</summary>
public sealed record HttpResponseHead(string Version, int Status, string Reason, IReadOnlyList<HttpHeader> Headers, BodyFraming Framing, long ContentLength)
{
    public bool WantsClose => HttpHeaders.HasToken(Headers, "Connection", "close") || Version == "HTTP/1.0" || Framing == BodyFraming.UntilClose;
}

/// <summary>Header lookups.</summary>
public static class HttpHeaders
{
    public static IEnumerable<string> Values(IReadOnlyList<HttpHeader> headers, string name) =>
        headers.Where(h => h.Name.Equals(name, StringComparison.OrdinalIgnoreCase)).Select(h => h.Value);

    public static bool HasToken(IReadOnlyList<HttpHeader> headers, string name, string token) =>
        Values(headers, name).SelectMany(v => v.Split(',')).Any(t => t.Trim().Equals(token, StringComparison.OrdinalIgnoreCase));
}

/// <summary>Why a message was refused; <see cref="Status"/> is what to answer the client.</summary>
public sealed class HttpMessageRefusedException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;
}

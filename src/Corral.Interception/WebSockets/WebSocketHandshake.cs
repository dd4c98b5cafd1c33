using System.Security.Cryptography;
using System.Text;
using Corral.Interception.Http;

namespace Corral.Interception.WebSockets;

/// <summary>
/// The WebSocket opening handshake over HTTP/1.1 (RFC 6455 section 4): what a request must be to be carried as one,
/// and what the server's 101 must say for the gateway to relay messages. The client's extension offers never reach
/// the server (<see cref="RequestHeads.SerializeRequestHead"/>), so a server that names one anyway is refused: a
/// compressed or otherwise transformed message could not be inspected.
/// </summary>
internal static class WebSocketHandshake
{
    private const string AcceptGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

    /// <summary>The request's Upgrade header lists websocket.</summary>
    public static bool AsksForWebSocket(HttpRequestHead request) => HttpHeaders.HasToken(request.Headers, "Upgrade", "websocket");

    /// <summary>What makes the request other than an RFC 6455 section 4.1 opening handshake, or null (with its key).</summary>
    public static string? RequestProblem(HttpRequestHead request, out string key)
    {
        key = "";
        if (request.Method != "GET") return $"a WebSocket opening handshake is a GET, not {Refusal.Printable(request.Method)}";
        if (request.Version != "HTTP/1.1") return "a WebSocket opening handshake is HTTP/1.1";
        if (!IsOnly(request.Headers, "Upgrade", "websocket"))
            return "the Upgrade header must name websocket alone";
        if (!HttpHeaders.HasToken(request.Headers, "Connection", "upgrade")) return "the Connection header must list Upgrade";
        if (request.Framing != BodyFraming.None && !(request.Framing == BodyFraming.ContentLength && request.ContentLength == 0))
            return "a WebSocket opening handshake has no body";
        if (HttpHeaders.Values(request.Headers, "Sec-WebSocket-Key").ToList() is not [var sent]) return "it needs exactly one Sec-WebSocket-Key";
        if (!IsNonce(sent.Trim())) return "the Sec-WebSocket-Key is not 16 bytes in base64";
        if (HttpHeaders.Values(request.Headers, "Sec-WebSocket-Version").ToList() is not [var version] || version.Trim() != "13")
            return "it needs exactly one Sec-WebSocket-Version: 13";
        key = sent.Trim();
        return null;
    }

    /// <summary>What a 101 must carry in Sec-WebSocket-Accept for this key (RFC 6455 section 4.2.2).</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA5350", Justification = "RFC 6455 fixes SHA-1 for the accept value; it proves the server read the handshake, it protects nothing")]
    public static string AcceptFor(string key) => Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + AcceptGuid)));

    /// <summary>What makes a 101 other than the completion of this handshake with no extension, or null.</summary>
    public static string? ResponseProblem(HttpResponseHead response, HttpRequestHead request, string key)
    {
        if (!IsOnly(response.Headers, "Upgrade", "websocket")) return "its Upgrade header does not name websocket alone";
        if (!HttpHeaders.HasToken(response.Headers, "Connection", "upgrade")) return "its Connection header does not list Upgrade";
        if (HttpHeaders.Values(response.Headers, "Sec-WebSocket-Accept").ToList() is not [var accept] || accept.Trim() != AcceptFor(key))
            return "its Sec-WebSocket-Accept does not answer the key";
        if (HttpHeaders.Values(response.Headers, "Sec-WebSocket-Extensions").Any(v => v.Trim().Length > 0))
            return "it negotiated an extension the gateway did not offer (a compressed or transformed message cannot be inspected)";
        var chosen = Tokens(response.Headers, "Sec-WebSocket-Protocol");
        if (chosen.Count > 1) return "it chose more than one subprotocol";
        if (chosen is [var protocol] && !Tokens(request.Headers, "Sec-WebSocket-Protocol").Contains(protocol, StringComparer.Ordinal))
            return "it chose a subprotocol the client did not offer";
        return null;
    }

    private static bool IsOnly(IReadOnlyList<HttpHeader> headers, string name, string token) =>
        Tokens(headers, name) is [var only] && only.Equals(token, StringComparison.OrdinalIgnoreCase);

    private static List<string> Tokens(IReadOnlyList<HttpHeader> headers, string name) =>
        HttpHeaders.Values(headers, name).SelectMany(v => v.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)).ToList();

    private static bool IsNonce(string text)
    {
        Span<byte> bytes = stackalloc byte[18];
        return text.Length == 24 && Convert.TryFromBase64String(text, bytes, out var written) && written == 16;
    }
}

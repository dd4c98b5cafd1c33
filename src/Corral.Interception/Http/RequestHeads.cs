using System.Text;
using Corral.Policy.Inspection;

namespace Corral.Interception.Http;

/// <summary>What the request stages read from a parsed head and the head they rebuild from it for the upstream.</summary>
internal static class RequestHeads
{
    // NTLM and Negotiate authenticate the connection, not the request: such a connection must stay with its client.
    public static bool IsConnectionBoundAuth(string value) =>
        value.TrimStart().StartsWith("NTLM", StringComparison.OrdinalIgnoreCase) || value.TrimStart().StartsWith("Negotiate", StringComparison.OrdinalIgnoreCase);

    // What payload inspection sees of a head: everything but the credentials meant for the destination itself (the
    // headers it does not scan, and those a credential of the policy went into).
    public static byte[] ScannableHead(HttpRequestHead request, string originForm, PayloadInspector inspector, HashSet<int>? placed = null)
    {
        var sb = new StringBuilder();
        sb.Append(request.Method).Append(' ').Append(originForm).Append("\r\n");
        for (var i = 0; i < request.Headers.Count; i++)
        {
            var h = request.Headers[i];
            if (!inspector.Settings.ScansHeader(h.Name) || placed?.Contains(i) == true) continue;
            sb.Append(h.Name).Append(": ").Append(h.Value).Append("\r\n");
        }
        return Encoding.Latin1.GetBytes(sb.ToString());
    }

    // The upstream gets a canonical head built from what was parsed, never the client's raw bytes, and always in
    // origin-form: an upstream never sees an absolute target it might route by. Connection and the fields it names
    // are the client's hop only (RFC 9110 7.6.1), except those that frame or route the message: naming
    // Content-Length, Transfer-Encoding or Host there must not unframe what goes upstream. The gateway states its own
    // option only where the protocol needs it: an HTTP/1.0 request that keeps its connection alive.
    /// <summary>
    /// Whether the request asks for an upgrade that what follows it would need: refused, unless it is a WebSocket
    /// opening handshake on a rule with <c>websocket: allow</c> (the gateway reads its messages). An offer of h2c alone is optional for the server (RFC 9110 7.8): it is dropped with
    /// HTTP2-Settings (<see cref="SerializeRequestHead"/>) and the request goes on as HTTP/1.1, as other proxies do.
    /// </summary>
    public static bool RequiresUpgrade(HttpRequestHead request)
    {
        foreach (var value in HttpHeaders.Values(request.Headers, "Upgrade"))
            foreach (var token in value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
                if (!token.Equals("h2c", StringComparison.OrdinalIgnoreCase)) return true;
        return false;
    }

    /// <summary>An upgrade offer the gateway dropped (only h2c gets this far): never forwarded, named in Connection or not.</summary>
    private static bool IsDroppedUpgradeOffer(string name) =>
        name.Equals("Upgrade", StringComparison.OrdinalIgnoreCase) || name.Equals("HTTP2-Settings", StringComparison.OrdinalIgnoreCase);

    /// <param name="webSocket">The request is a WebSocket opening handshake the rule allows: it goes on as one, with no
    /// extension offered (the gateway cannot inspect a compressed message).</param>
    public static byte[] SerializeRequestHead(HttpRequestHead request, string originForm, bool webSocket = false)
    {
        var hopOnly = HopByHopNames(request.Headers);
        var sb = new StringBuilder();
        sb.Append(request.Method).Append(' ').Append(originForm).Append(' ').Append(request.Version).Append("\r\n");
        foreach (var h in request.Headers)
        {
            if (h.Name.StartsWith("Proxy-", StringComparison.OrdinalIgnoreCase)) continue;
            if (h.Name.Equals("Keep-Alive", StringComparison.OrdinalIgnoreCase)) continue;
            if (h.Name.Equals("Connection", StringComparison.OrdinalIgnoreCase)) continue;
            if (h.Name.Equals("Expect", StringComparison.OrdinalIgnoreCase)) continue; // answered here
            if (IsDroppedUpgradeOffer(h.Name)) continue;
            if (webSocket && h.Name.Equals("Sec-WebSocket-Extensions", StringComparison.OrdinalIgnoreCase)) continue;
            if (hopOnly is not null && hopOnly.Contains(h.Name) && !FramesOrRoutes(h.Name)) continue;
            sb.Append(h.Name).Append(": ").Append(h.Value).Append("\r\n");
        }
        if (request.Version == "HTTP/1.0" && !request.WantsClose) sb.Append("Connection: keep-alive\r\n");
        if (webSocket) sb.Append("Connection: Upgrade\r\nUpgrade: websocket\r\n");
        sb.Append("\r\n");
        return Encoding.Latin1.GetBytes(sb.ToString());
    }

    /// <summary>Whether the head the upstream gets asks it to close: only HTTP/1.0 without keep-alive (the client's own close stays on its hop).</summary>
    public static bool ForwardedWantsClose(HttpRequestHead request) => request.Version == "HTTP/1.0" && request.WantsClose;

    private static bool FramesOrRoutes(string name) =>
        name.Equals("Host", StringComparison.OrdinalIgnoreCase) || name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)
        || name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase);

    /// <summary>The field names the Connection header lists (null when it lists none).</summary>
    private static HashSet<string>? HopByHopNames(IReadOnlyList<HttpHeader> headers)
    {
        HashSet<string>? names = null;
        foreach (var value in HttpHeaders.Values(headers, "Connection"))
            foreach (var token in value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
                (names ??= new HashSet<string>(StringComparer.OrdinalIgnoreCase)).Add(token);
        return names;
    }
}

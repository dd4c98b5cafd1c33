using System.Text.Json;
using Corral.Audit;
using Corral.Policy.Compilation;

namespace Corral.Gateway.FlowLog;

/// <summary>Writes a <see cref="FlowRecord"/> as one JSON object (the flow-log line format).</summary>
public static class FlowRecordJson
{
    /// <summary>Writes the record; <paramref name="link"/> (the flow log's hash chain) puts <c>"seq"</c> and <c>"prev"</c> after <c>"v"</c>.</summary>
    public static void Write(Utf8JsonWriter w, FlowRecord r, ChainLink? link = null)
    {
        w.WriteStartObject();
        w.WriteNumber("v", FlowRecord.SchemaVersion);
        if (link is { } l) WriteLink(w, l);
        w.WriteString("time", r.Time.UtcDateTime.ToString("O"));
        w.WriteString("event", r.Event switch { FlowEvent.Decision => "decision", FlowEvent.Request => "request", FlowEvent.Dns => "dns", _ => "close" });
        w.WriteString("flow", r.FlowId);
        w.WriteString("listener", r.Listener);
        w.WriteString("src", r.Source.ToString());
        if (r.Agent is not null) w.WriteString("agent", r.Agent);
        if (r.Destination is null) w.WriteNull("dst"); else w.WriteString("dst", r.Destination.ToString());
        if (r.Host is null) w.WriteNull("host"); else w.WriteString("host", r.Host);
        if (r.ResolvedName is not null) w.WriteString("dns_name", r.ResolvedName);
        if (r.Method is not null) w.WriteString("method", r.Method);
        if (r.Url is not null) w.WriteString("url", r.Url);
        if (r.Event == FlowEvent.Dns && r.Dns is { } dns) WriteDns(w, r, dns);
        else if (r.Event is FlowEvent.Decision or FlowEvent.Request)
        {
            if (r.IsGatewayRefusal)
            {
                // A refusal the gateway makes on its own (bad input, fronting, a secret in a body): the same shape, no
                // rule, and "refused" so that replay does not take it for the default action.
                w.WriteString("action", "deny");
                w.WriteNull("rule");
                if (r.Check is not null) w.WriteString("check", r.Check);
                w.WriteNull("priority");
                w.WriteBoolean("enforced", true);
                w.WriteBoolean("decrypt", r.Decrypted);
                w.WriteString("reason", r.Refusal);
                w.WriteBoolean("refused", true);
            }
            else if (r.Verdict is { } v)
            {
                // The log says what happened, not what the rule allowed: decrypt is true only when the gateway decrypted,
                // and a request the rule's mcp section denied is a deny by that rule.
                var action = r.Mcp is { Denied: true } && v.Enforced ? Policy.Model.RuleAction.Deny : v.Action;
                VerdictJson.WriteProperties(w, v with { Action = action, Decrypt = r.Decrypted });
            }
            if (r.Facts is { } facts) WriteFacts(w, facts);
            if (r.Event == FlowEvent.Request)
            {
                if (r.Status is { } status) w.WriteNumber("status", status);
                w.WriteNumber("bytes_up", r.BytesUp);
                w.WriteNumber("bytes_down", r.BytesDown);
                if (r.Mcp is { } mcp) WriteMcp(w, mcp);
                if (r.Credential is { } credential) w.WriteString("credential", credential);
                if (r.WebSocket is { } ws) WriteWebSocket(w, ws);
            }
        }
        else
        {
            if (r.Refusal is not null) w.WriteString("reason", r.Refusal);
            if (r.Check is not null) w.WriteString("check", r.Check);
            w.WriteNumber("bytes_up", r.BytesUp);
            w.WriteNumber("bytes_down", r.BytesDown);
            w.WriteNumber("duration_ms", Math.Round(r.DurationMs ?? 0, 3));
        }
        w.WriteEndObject();
    }

    /// <summary>The chain fields: <c>"seq"</c>, this line's place in the chain, and <c>"prev"</c>, the hash of the line before.</summary>
    public static void WriteLink(Utf8JsonWriter w, ChainLink link)
    {
        w.WriteNumber("seq", link.Seq);
        w.WriteString("prev", link.Prev);
    }

    // "websocket": {"messages_up", "messages_down", "bytes_up", "bytes_down", "close_code", "closed_by"}: a WebSocket's end.
    private static void WriteWebSocket(Utf8JsonWriter w, Interception.WebSockets.WebSocketSummary ws)
    {
        w.WriteStartObject("websocket");
        w.WriteNumber("messages_up", ws.MessagesUp);
        w.WriteNumber("messages_down", ws.MessagesDown);
        w.WriteNumber("bytes_up", ws.BytesUp);
        w.WriteNumber("bytes_down", ws.BytesDown);
        w.WriteNumber("close_code", ws.CloseCode);
        w.WriteString("closed_by", ws.ClosedBy);
        w.WriteEndObject();
    }

    // "mcp": {"method", "tool", "denied", "reason", "tools_changed"}: what the request carried and what became of it.
    private static void WriteMcp(Utf8JsonWriter w, Interception.Mcp.McpExchange mcp)
    {
        w.WriteStartObject("mcp");
        w.WriteString("method", mcp.Method);
        if (mcp.Tool is null) w.WriteNull("tool"); else w.WriteString("tool", mcp.Tool);
        w.WriteBoolean("denied", mcp.Denied);
        if (mcp.Reason is not null) w.WriteString("reason", mcp.Reason);
        if (mcp.ToolsChanged.Count > 0)
        {
            w.WriteString("alert", "mcp-tools-changed");
            w.WriteStartArray("tools_changed");
            foreach (var t in mcp.ToolsChanged) w.WriteStringValue(t);
            w.WriteEndArray();
        }
        w.WriteEndObject();
    }
    /// <summary>The facts Decide saw: <c>"facts":{"src","host","addresses","port","protocol","tls","path"}</c>.</summary>
    private static void WriteFacts(Utf8JsonWriter w, in Flow facts)
    {
        w.WriteStartObject("facts");
        w.WriteString("src", facts.Source.ToString());
        if (facts.Host is null) w.WriteNull("host"); else w.WriteString("host", facts.Host);
        w.WriteStartArray("addresses");
        foreach (var address in facts.Destinations) w.WriteStringValue(address.ToString());
        w.WriteEndArray();
        w.WriteNumber("port", facts.Port);
        w.WriteString("protocol", facts.Protocol switch { FlowProtocol.Udp => "udp", FlowProtocol.Icmp => "icmp", _ => "tcp" });
        if (facts.IsTls is { } tls) w.WriteBoolean("tls", tls); else w.WriteNull("tls");
        if (facts.Path is null) w.WriteNull("path"); else w.WriteString("path", facts.Path);
        w.WriteEndObject();
    }

    /// <summary>A DNS record: the verdict fields by the same names as a decision's, then the query and its answer.</summary>
    private static void WriteDns(Utf8JsonWriter w, FlowRecord r, DnsQueryFacts dns)
    {
        w.WriteString("transport", dns.Transport);
        w.WriteString("qtype", dns.QueryType);
        w.WriteString("action", dns.Answered ? "permit" : "deny");
        if (dns.Rule is null) w.WriteNull("rule"); else w.WriteString("rule", dns.Rule);
        if (r.Check is not null) w.WriteString("check", r.Check);
        w.WriteString("reason", dns.Reason);
        w.WriteBoolean("address_only", dns.AddressOnly);
        w.WriteString("rcode", dns.ResponseCode);
        w.WriteStartArray("answers");
        foreach (var a in dns.Answers) w.WriteStringValue(a.ToString());
        w.WriteEndArray();
        if (dns.UpstreamMs is { } ms) w.WriteNumber("upstream_ms", Math.Round(ms, 3)); else w.WriteNull("upstream_ms");
        w.WriteBoolean("cached", dns.Cached);
        w.WriteStartArray("flags");
        foreach (var f in dns.Flags) w.WriteStringValue(f);
        w.WriteEndArray();
    }
}

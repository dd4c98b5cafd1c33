using System.Text.Json;
using Corral.Policy.Compilation;

namespace Corral.Gateway.FlowLog;

/// <summary>Writes a <see cref="FlowRecord"/> as one JSON object (the flow-log line format).</summary>
public static class FlowRecordJson
{
    public static void Write(Utf8JsonWriter w, FlowRecord r)
    {
        w.WriteStartObject();
        w.WriteString("time", r.Time.UtcDateTime.ToString("O"));
        w.WriteString("event", r.Event switch { FlowEvent.Decision => "decision", FlowEvent.Request => "request", _ => "close" });
        w.WriteString("flow", r.FlowId);
        w.WriteString("listener", r.Listener);
        w.WriteString("src", r.Source.ToString());
        if (r.Destination is null) w.WriteNull("dst"); else w.WriteString("dst", r.Destination.ToString());
        if (r.Host is null) w.WriteNull("host"); else w.WriteString("host", r.Host);
        if (r.Method is not null) w.WriteString("method", r.Method);
        if (r.Url is not null) w.WriteString("url", r.Url);
        if (r.Event is FlowEvent.Decision or FlowEvent.Request)
        {
            if (r.Refusal is not null)
            {
                // A refusal the gateway makes on its own (bad input, fronting): the same shape, no rule.
                w.WriteString("action", "deny");
                w.WriteNull("rule");
                if (r.Check is not null) w.WriteString("check", r.Check);
                w.WriteNull("priority");
                w.WriteBoolean("enforced", true);
                w.WriteBoolean("decrypt", r.Decrypted);
                w.WriteString("reason", r.Refusal);
            }
            else if (r.Verdict is { } v)
            {
                // The log says what happened, not what the rule allowed: decrypt is true only when the gateway decrypted,
                // and a request the rule's mcp section denied is a deny by that rule.
                var action = r.Mcp is { Denied: true } && v.Enforced ? Policy.Model.RuleAction.Deny : v.Action;
                VerdictJson.WriteProperties(w, v with { Action = action, Decrypt = r.Decrypted });
            }
            if (r.Event == FlowEvent.Request)
            {
                if (r.Status is { } status) w.WriteNumber("status", status);
                w.WriteNumber("bytes_up", r.BytesUp);
                w.WriteNumber("bytes_down", r.BytesDown);
                if (r.Mcp is { } mcp) WriteMcp(w, mcp);
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
}

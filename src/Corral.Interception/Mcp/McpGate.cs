using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Corral.Policy.Compilation;

namespace Corral.Interception.Mcp;

/// <summary>What the gateway made of one MCP request: its method(s) and tool(s), and whether and why it was denied.</summary>
/// <param name="Denied">Some message was denied (under watch mode the request still went on).</param>
public sealed record McpExchange(string Method, string? Tool, bool Denied, string? Reason)
{
    /// <summary>On a tools/list: the tools the server added, removed or changed since they were pinned.</summary>
    public IReadOnlyList<string> ToolsChanged { get; init; } = [];
}

/// <summary>
/// Decides an MCP request body (JSON-RPC over Streamable HTTP) by the compiled rule's mcp section
/// (<see cref="CompiledMcpRules.Decide"/>), message by message, and
/// writes the answer a denied call gets: HTTP 200 with a JSON-RPC error for each request, carrying its id, the rule and
/// advice not to retry, which MCP clients surface to the agent as the call's error instead of a transport fault.
/// </summary>
internal static class McpGate
{
    /// <summary>The JSON-RPC error code of a call the egress policy denies (implementation-defined server error range).</summary>
    public const int PolicyDeniedCode = -32001;

    public sealed record Decision(JsonRpcBody Body, McpExchange Exchange, IReadOnlyList<(JsonRpcMessage Message, string? Denial)> PerMessage);

    /// <param name="isHeld">Whether a tool's definition changed and is held until an operator accepts it.</param>
    public static Decision Decide(JsonRpcBody body, CompiledMcpRules rules, string rule, Func<string, bool> isHeld)
    {
        var per = new List<(JsonRpcMessage, string?)>(body.Messages.Count);
        string? firstDenial = null;
        foreach (var m in body.Messages)
        {
            string? denial = null;
            if (!m.IsResponse)
            {
                var d = rules.Decide(m.Method!, m.Tool);
                if (!d.Allowed) denial = $"{Describe(m)} denied by rule '{rule}': {d.ReasonText}";
                else if (m.Method == CompiledMcpRules.ToolsCall && rules.HoldsChangedTools && isHeld(m.Tool!))
                    denial = $"{Describe(m)} denied by rule '{rule}': the tool's definition changed since it was pinned and awaits an operator's review";
            }
            firstDenial ??= denial;
            per.Add((m, denial));
        }
        var method = string.Join(",", body.Messages.Select(m => m.Method ?? "(response)").Distinct());
        var tools = body.Messages.Where(m => m.Tool is not null).Select(m => m.Tool!).Distinct().ToList();
        return new Decision(body, new McpExchange(method, tools.Count == 0 ? null : string.Join(",", tools), firstDenial is not null, firstDenial), per);
    }

    private static string Describe(JsonRpcMessage m) => m.Method == CompiledMcpRules.ToolsCall ? $"tools/call '{m.Tool}'" : $"method '{m.Method}'";

    /// <summary>
    /// The answer to a body with a denied message: every request in it gets a JSON-RPC error with its id (a denied one
    /// says why; the others that it was not sent because the batch was refused). Null when nothing in it has an id to
    /// answer (only notifications or responses): those get the transport's HTTP error instead.
    /// </summary>
    public static byte[]? DeniedResponse(Decision decision, string rule)
    {
        var requests = decision.PerMessage.Where(p => p.Message.IsRequest).ToList();
        if (requests.Count == 0) return null;
        return ErrorAnswer(requests.Select(r => (r.Message.Id!, r.Denial ?? $"{Describe(r.Message)} was not sent: another message in its batch was denied by rule '{rule}'", r.Message.Tool)).ToList(),
            decision.Body.IsBatch, rule);
    }

    /// <summary>HTTP 200 with a JSON-RPC error for each request (by its raw id): a batch answers a batch.</summary>
    public static byte[] ErrorAnswer(IReadOnlyList<(string RawId, string Reason, string? Tool)> errors, bool batch, string rule)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            if (batch) w.WriteStartArray();
            foreach (var (id, reason, tool) in errors) WriteError(w, id, reason, rule, tool);
            if (batch) w.WriteEndArray();
        }
        var body = stream.ToArray();
        var head = $"HTTP/1.1 200 OK\r\n{Http.Refusal.RuleHeader}: {Http.Refusal.Printable(rule)}\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n";
        return [.. Encoding.ASCII.GetBytes(head), .. body];
    }

    /// <summary>One JSON-RPC error message answering <paramref name="rawId"/>, as compact JSON (an event's data).</summary>
    public static byte[] ErrorMessage(string rawId, string reason, string rule)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping })) WriteError(w, rawId, reason, rule, null);
        return stream.ToArray();
    }

    private static void WriteError(Utf8JsonWriter w, string rawId, string reason, string rule, string? tool)
    {
        w.WriteStartObject();
        w.WriteString("jsonrpc", "2.0");
        w.WritePropertyName("id");
        w.WriteRawValue(rawId);
        w.WriteStartObject("error");
        w.WriteNumber("code", PolicyDeniedCode);
        w.WriteString("message", $"Egress policy: {reason}. {Http.Refusal.Advice}");
        w.WriteStartObject("data");
        w.WriteString("error", "blocked_by_policy");
        w.WriteString("rule", rule);
        if (tool is not null) w.WriteString("tool", tool);
        w.WriteBoolean("retry", false);
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteEndObject();
    }
}

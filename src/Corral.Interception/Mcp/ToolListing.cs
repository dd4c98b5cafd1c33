using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Corral.Interception.Mcp;

/// <summary>One tool as a server lists it: its name and SHA-256 (hex) of its description and input schema.</summary>
public sealed record McpToolDefinition(string Name, string Hash);

/// <summary>A tools/list answer: its tools, and whether it is the whole list (no pagination cursor either way).</summary>
public sealed record McpToolListing(IReadOnlyList<McpToolDefinition> Tools, bool Complete);

/// <summary>Reads the answer to one tools/list request from a response body, as JSON or as a <c>text/event-stream</c>.</summary>
public static class ToolListingReader
{
    private static readonly JsonDocumentOptions Options = new() { MaxDepth = JsonRpcBody.MaxDepth };

    /// <param name="requestId">The tools/list request's id as raw JSON: the answer is the message carrying it.</param>
    /// <param name="requestHadCursor">A request for a later page: its answer is never the whole list.</param>
    public static McpToolListing? Read(ReadOnlySpan<byte> body, bool eventStream, string requestId, bool requestHadCursor)
    {
        if (!eventStream) return FromJson(body.ToArray(), requestId, requestHadCursor);
        // text/event-stream: events are separated by a blank line; an event's data is its "data:" lines joined by '\n'.
        var text = Encoding.UTF8.GetString(body).Replace("\r\n", "\n").Replace('\r', '\n');
        var data = new StringBuilder();
        foreach (var line in text.Split('\n').Append(""))
        {
            if (line.Length == 0)
            {
                if (data.Length > 0 && FromJson(Encoding.UTF8.GetBytes(data.ToString()), requestId, requestHadCursor) is { } found) return found;
                data.Clear();
                continue;
            }
            if (!line.StartsWith("data:", StringComparison.Ordinal)) continue;
            if (data.Length > 0) data.Append('\n');
            var value = line.AsSpan(5);
            data.Append(value.StartsWith(" ") ? value[1..] : value);
        }
        return null;
    }

    private static McpToolListing? FromJson(byte[] json, string requestId, bool requestHadCursor)
    {
        try
        {
            using var document = JsonDocument.Parse(json, Options);
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Array)
            {
                foreach (var item in root.EnumerateArray())
                    if (FromMessage(item, requestId, requestHadCursor) is { } found) return found;
                return null;
            }
            return FromMessage(root, requestId, requestHadCursor);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static McpToolListing? FromMessage(JsonElement message, string requestId, bool requestHadCursor)
    {
        if (message.ValueKind != JsonValueKind.Object || !message.TryGetProperty("id", out var id) || id.GetRawText() != requestId) return null;
        if (!message.TryGetProperty("result", out var result) || result.ValueKind != JsonValueKind.Object) return null;
        if (!result.TryGetProperty("tools", out var tools) || tools.ValueKind != JsonValueKind.Array) return null;
        var definitions = new List<McpToolDefinition>();
        foreach (var tool in tools.EnumerateArray())
        {
            if (tool.ValueKind != JsonValueKind.Object || !tool.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String) continue;
            definitions.Add(new McpToolDefinition(name.GetString()!, HashOf(tool)));
        }
        var more = result.TryGetProperty("nextCursor", out var cursor) && cursor.ValueKind == JsonValueKind.String;
        return new McpToolListing(definitions, !more && !requestHadCursor);
    }

    // What an agent reads of a tool: its description and input schema (raw JSON, as the server serializes it).
    private static string HashOf(JsonElement tool)
    {
        var description = tool.TryGetProperty("description", out var d) ? d.GetRawText() : "null";
        var schema = tool.TryGetProperty("inputSchema", out var s) ? s.GetRawText() : "null";
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(description + "\n" + schema)));
    }
}

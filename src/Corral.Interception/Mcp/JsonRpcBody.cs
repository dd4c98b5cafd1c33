using System.Text.Json;

namespace Corral.Interception.Mcp;

/// <summary>One JSON-RPC 2.0 message of an MCP request body: a request (has an id), a notification, or a response the client sends.</summary>
/// <param name="Id">The request's id as raw JSON (a string or a number), to answer it with; null for a notification or a response.</param>
/// <param name="Tool">For tools/call: params.name.</param>
public sealed record JsonRpcMessage(string? Method, string? Id, string? Tool, bool IsResponse, bool HasCursor = false)
{
    public bool IsRequest => Method is not null && Id is not null;
}

/// <summary>A parsed MCP request body: one message, or a batch (a JSON array) of them.</summary>
public sealed record JsonRpcBody(IReadOnlyList<JsonRpcMessage> Messages, bool IsBatch)
{
    /// <summary>Nesting allowed in a body: MCP arguments are JSON values, and nothing real nests this deep.</summary>
    public const int MaxDepth = 64;

    /// <summary>Messages allowed in one batch.</summary>
    public const int MaxBatch = 100;

    private static readonly JsonDocumentOptions Options = new() { MaxDepth = MaxDepth, AllowDuplicateProperties = false };

    /// <summary>
    /// Reads a body strictly: UTF-8 JSON within <see cref="MaxDepth"/>, no duplicate property anywhere, every message
    /// an object with <c>"jsonrpc": "2.0"</c>; no two of the members read here may differ only in case (a server whose
    /// JSON reader ignores case would read another one). Returns null with <paramref name="error"/> otherwise.
    /// </summary>
    public static JsonRpcBody? TryParse(ReadOnlyMemory<byte> body, out string? error)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body, Options);
        }
        catch (JsonException ex)
        {
            error = $"the body is not JSON ({ex.Message})";
            return null;
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Array)
            {
                var count = root.GetArrayLength();
                if (count == 0) { error = "an empty JSON-RPC batch"; return null; }
                if (count > MaxBatch) { error = $"a JSON-RPC batch of {count} messages (at most {MaxBatch})"; return null; }
                var messages = new List<JsonRpcMessage>(count);
                foreach (var item in root.EnumerateArray())
                {
                    if (ReadMessage(item, out error) is not { } m) return null;
                    messages.Add(m);
                }
                error = null;
                return new JsonRpcBody(messages, true);
            }
            if (ReadMessage(root, out error) is not { } single) return null;
            return new JsonRpcBody([single], false);
        }
    }

    private static readonly string[] MessageMembers = ["jsonrpc", "id", "method", "params", "result", "error"];
    private static readonly string[] ParamsMembers = ["name", "arguments", "_meta"];

    private static JsonRpcMessage? ReadMessage(JsonElement message, out string? error)
    {
        if (message.ValueKind != JsonValueKind.Object) { error = "a JSON-RPC message is an object"; return null; }
        if ((error = CaseConfusable(message, MessageMembers)) is not null) return null;
        if (!message.TryGetProperty("jsonrpc", out var version) || version.ValueKind != JsonValueKind.String || version.GetString() != "2.0")
        {
            error = "a JSON-RPC 2.0 message has \"jsonrpc\": \"2.0\"";
            return null;
        }
        string? id = null;
        if (message.TryGetProperty("id", out var idElement))
        {
            if (idElement.ValueKind is not (JsonValueKind.String or JsonValueKind.Number)) { error = "a JSON-RPC id is a string or a number"; return null; }
            id = idElement.GetRawText();
        }
        var hasMethod = message.TryGetProperty("method", out var methodElement);
        if (!hasMethod)
        {
            var isResponse = message.TryGetProperty("result", out _) ^ message.TryGetProperty("error", out _);
            if (!isResponse || id is null) { error = "a JSON-RPC message has a method, or is a response with an id and one of result or error"; return null; }
            return new JsonRpcMessage(null, null, null, true);
        }
        if (methodElement.ValueKind != JsonValueKind.String || methodElement.GetString() is not { Length: > 0 } method)
        {
            error = "a JSON-RPC method is a non-empty string";
            return null;
        }
        if (message.TryGetProperty("result", out _) || message.TryGetProperty("error", out _)) { error = "a JSON-RPC request has no result or error"; return null; }
        string? tool = null;
        if (message.TryGetProperty("params", out var parameters))
        {
            if (parameters.ValueKind is not (JsonValueKind.Object or JsonValueKind.Array)) { error = "JSON-RPC params are an object or an array"; return null; }
            if (method == "tools/call")
            {
                if (parameters.ValueKind != JsonValueKind.Object) { error = "tools/call params are an object"; return null; }
                if ((error = CaseConfusable(parameters, ParamsMembers)) is not null) return null;
                if (parameters.TryGetProperty("name", out var name))
                {
                    if (name.ValueKind != JsonValueKind.String) { error = "a tools/call name is a string"; return null; }
                    tool = name.GetString();
                }
            }
        }
        var hasCursor = parameters.ValueKind == JsonValueKind.Object && parameters.TryGetProperty("cursor", out _);
        error = null;
        return new JsonRpcMessage(method, id, tool, false, hasCursor);
    }

    // A member that differs from a known one only in case ("Method", "NAME"): refused, so no reader sees another name.
    private static string? CaseConfusable(JsonElement obj, string[] known)
    {
        foreach (var property in obj.EnumerateObject())
            foreach (var k in known)
                if (!string.Equals(property.Name, k, StringComparison.Ordinal) && string.Equals(property.Name, k, StringComparison.OrdinalIgnoreCase))
                    return $"the member \"{Http.Refusal.Printable(property.Name)}\" differs from \"{k}\" only in case";
        return null;
    }
}

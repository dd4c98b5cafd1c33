using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Corral.Interception.Mcp;

/// <summary>One tool as a server lists it: its name and SHA-256 (hex) of its description and input schema.</summary>
public sealed record McpToolDefinition(string Name, string Hash);

/// <summary>A tools/list answer: its tools, and whether it is the whole list (the answer to a first-page request, with no next cursor).</summary>
public sealed record McpToolListing(IReadOnlyList<McpToolDefinition> Tools, bool Complete);

/// <summary>What one piece of server output (a JSON body or one event's data) held: the listings in it, or why it cannot be read.</summary>
/// <param name="Listings">Every JSON-RPC result that carries a <c>tools</c> array, whatever its id: a client reads any of them as a listing when its id matches one of its pending requests.</param>
/// <param name="Ids">The ids of the responses in it (canonical, see <see cref="ToolListingReader.CanonicalId(string)"/>), to answer one in its place.</param>
/// <param name="Problem">Why the gateway cannot be sure what a client would read in it; null when it can.</param>
public sealed record ListingScan(IReadOnlyList<McpToolListing> Listings, IReadOnlyList<string> Ids, string? Problem)
{
    public static readonly ListingScan None = new([], [], null);

    /// <summary>The output is not JSON at all (<see cref="Problem"/> says so).</summary>
    public bool ParseFailed { get; init; }
}

/// <summary>
/// Reads what an MCP client would take for a tools/list answer from server output. A client matches a response to its
/// pending request by id on every stream of the session (the POST's answer, its event stream, the GET stream), so
/// every result carrying a <c>tools</c> array counts, matched or not. The official SDK reads result and tool members
/// case-insensitively and takes the last of duplicate members, so a member spelled twice (in any case) in a message,
/// its result or a tool makes the output unreadable here: the gateway cannot know which one the client keeps.
/// </summary>
public static class ToolListingReader
{
    private static readonly JsonDocumentOptions Options = new() { MaxDepth = JsonRpcBody.MaxDepth };

    /// <summary>Reads one JSON text: a JSON-RPC message or a batch of them (a UTF-8 byte order mark is skipped, as clients do).</summary>
    /// <param name="listRequestIds">Canonical ids of the first-page tools/list requests this output answers: their answers are whole lists.</param>
    public static ListingScan ReadJson(ReadOnlySpan<byte> json, IReadOnlyCollection<string> listRequestIds)
    {
        if (json.StartsWith("\uFEFF"u8)) json = json[3..];
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json.ToArray(), Options);
        }
        catch (JsonException e)
        {
            return new([], [], $"not JSON ({e.Message})") { ParseFailed = true };
        }
        using (document)
        {
            var listings = new List<McpToolListing>();
            var ids = new List<string>();
            var root = document.RootElement;
            var messages = root.ValueKind == JsonValueKind.Array ? root.EnumerateArray().ToList() : [root];
            foreach (var message in messages)
                if (ReadMessage(message, listRequestIds, listings, ids) is { } problem) return new([], ids, problem);
            return new(listings, ids, null);
        }
    }

    private static string? ReadMessage(JsonElement message, IReadOnlyCollection<string> listRequestIds, List<McpToolListing> listings, List<string> ids)
    {
        if (message.ValueKind != JsonValueKind.Object) return null; // nothing a client reads as a response
        if (Duplicated(message) is { } twice) return $"a message has the member \"{twice}\" twice";
        string? id = null;
        if (message.TryGetProperty("id", out var idElement) && CanonicalId(idElement) is { } canonical) ids.Add(id = canonical);
        if (!TryGetMember(message, "result", out var result) || result.ValueKind != JsonValueKind.Object) return null;
        if (Duplicated(result) is { } twiceInResult) return $"a result has the member \"{twiceInResult}\" twice";
        if (!TryGetMember(result, "tools", out var tools)) return null;
        if (tools.ValueKind != JsonValueKind.Array) return "a result's \"tools\" is not an array";
        var definitions = new List<McpToolDefinition>();
        foreach (var tool in tools.EnumerateArray())
        {
            if (tool.ValueKind != JsonValueKind.Object) return "a listed tool is not an object";
            if (Duplicated(tool) is { } twiceInTool) return $"a listed tool has the member \"{twiceInTool}\" twice";
            if (!TryGetMember(tool, "name", out var name) || name.ValueKind != JsonValueKind.String) return "a listed tool has no name";
            definitions.Add(new McpToolDefinition(name.GetString()!, HashOf(tool)));
        }
        var more = TryGetMember(result, "nextCursor", out var cursor) && cursor.ValueKind is not JsonValueKind.Null;
        listings.Add(new McpToolListing(definitions, !more && id is not null && listRequestIds.Contains(id)));
        return null;
    }

    /// <summary>A request id as a client compares it: a string by its value, a number by its integer value; null for anything else.</summary>
    public static string? CanonicalId(JsonElement id) => id.ValueKind switch
    {
        JsonValueKind.String => "s:" + id.GetString(),
        JsonValueKind.Number => id.TryGetInt64(out var n) ? "n:" + n : "n:" + id.GetRawText(),
        _ => null,
    };

    /// <summary>The canonical form of an id given as raw JSON (as <see cref="JsonRpcMessage.Id"/> holds it).</summary>
    public static string? CanonicalId(string rawId)
    {
        using var document = JsonDocument.Parse(rawId);
        return CanonicalId(document.RootElement);
    }

    // A member name that occurs twice when compared as a client may (ignoring case): which one it reads is unknown.
    private static string? Duplicated(JsonElement obj)
    {
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var property in obj.EnumerateObject())
            if (!seen.Add(property.Name)) return Http.Refusal.Printable(property.Name);
        return null;
    }

    // Members are matched ignoring case, as the SDK's web-default deserializer does (no duplicates remain to choose from).
    private static bool TryGetMember(JsonElement obj, string name, out JsonElement value)
    {
        foreach (var property in obj.EnumerateObject())
            if (string.Equals(property.Name, name, StringComparison.OrdinalIgnoreCase))
            {
                value = property.Value;
                return true;
            }
        value = default;
        return false;
    }

    // What an agent reads of a tool: its description and input schema (raw JSON, as the server serializes it).
    private static string HashOf(JsonElement tool)
    {
        var description = TryGetMember(tool, "description", out var d) ? d.GetRawText() : "null";
        var schema = TryGetMember(tool, "inputSchema", out var s) ? s.GetRawText() : "null";
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(description + "\n" + schema)));
    }
}

using Corral.Policy.Model;

namespace Corral.Policy.Loading.Sections;

/// <summary>Reads a rule's <c>mcp</c> section: the tools and JSON-RPC methods the agent may call, and tool pinning.</summary>
internal sealed class McpSectionReader(NodeReader nodes)
{
    private static readonly string[] Keys = ["tools", "pinTools", "methods"];

    public McpRules? Read(YNode node, string rule)
    {
        if (node is not YMapping map)
        {
            nodes.Error("bad-type", node, $"'mcp' of rule '{rule}' is a mapping", "mcp: { tools: [search_docs], pinTools: true }");
            return null;
        }
        nodes.CheckKeys(map, Keys, $"the mcp section of rule '{rule}'");
        var tools = Names(NodeReader.Get(map, "tools"), "tools", "a tool name");
        var methods = Names(NodeReader.Get(map, "methods"), "methods", "a JSON-RPC method");
        foreach (var m in methods.Where(m => m.Value == McpRules.ToolsCall))
            nodes.Error("mcp-method-tools-call", m.Location, "tools/call is decided by 'tools', not 'methods'", "list the tools the agent may call under 'tools'");
        var pin = NodeReader.Get(map, "pinTools") is { } p ? nodes.Enum(p, "pinTools", Words.Pinning) ?? ToolPinning.Off : ToolPinning.Off;
        return new McpRules(tools, pin, methods, map.Location);
    }

    private List<Located<string>> Names(YNode? node, string field, string what)
    {
        var names = new List<Located<string>>();
        foreach (var item in nodes.List(node, field))
        {
            if (nodes.String(item, what) is not { } value) continue;
            if (value.Length == 0 || value.Length > 128 || value.Any(char.IsControl))
                nodes.Error("bad-name", item, $"'{Printable(value)}' is not usable as {what}", "1 to 128 printable characters");
            else if (names.Any(n => n.Value == value))
                nodes.Error("duplicate-name", item, $"{what} '{value}' is listed twice in mcp.{field}");
            else names.Add(new Located<string>(value, item.Location));
        }
        return names;
    }

    private static string Printable(string text) => new(text.Select(c => char.IsControl(c) ? '?' : c).ToArray());
}

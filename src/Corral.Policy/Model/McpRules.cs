using Corral.Policy.Diagnostics;

namespace Corral.Policy.Model;

/// <summary>Whether the gateway pins an MCP server's tool definitions, and what a change does.</summary>
public enum ToolPinning
{
    /// <summary>No pinning.</summary>
    Off,
    /// <summary>A changed, added or removed tool is flagged (flow-log alert and metric); calls go on.</summary>
    Flag,
    /// <summary>Flagged, and calls to a changed or added tool are denied until an operator accepts the new definitions.</summary>
    Enforce,
}

/// <summary>
/// A permit's MCP section as written: the tools an agent may call on the servers the rule reaches, the other JSON-RPC
/// methods that pass, and whether tool definitions are pinned. What it decides is
/// <see cref="Compilation.CompiledMcpRules"/>, built with the rule.
/// </summary>
public sealed record McpRules(IReadOnlyList<Located<string>> Tools, ToolPinning PinTools, IReadOnlyList<Located<string>> Methods, SourceLocation Location)
{
    /// <summary>The one method decided by the tool it names (<see cref="Tools"/>), never by <see cref="Methods"/>.</summary>
    public const string ToolsCall = "tools/call";
}

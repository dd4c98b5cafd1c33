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

/// <summary>Why one JSON-RPC message of an MCP request is allowed or denied.</summary>
public enum McpCallReason
{
    /// <summary>A method every MCP session needs (initialize, ping, notifications, the list methods).</summary>
    SessionMethod,
    /// <summary>A JSON-RPC response or error sent by the client (an answer to the server's own request).</summary>
    ClientResponse,
    /// <summary>A tools/call for a listed tool.</summary>
    ListedTool,
    /// <summary>A tools/call for a tool the rule does not list.</summary>
    UnlistedTool,
    /// <summary>A tools/call without a tool name.</summary>
    MissingToolName,
    /// <summary>Another method the rule's <c>methods</c> lists.</summary>
    ListedMethod,
    /// <summary>Another method the rule's <c>methods</c> does not list (or the rule has no <c>methods</c>).</summary>
    UnlistedMethod,
}

/// <summary>The decision on one MCP message.</summary>
public readonly record struct McpCallDecision(bool Allowed, McpCallReason Reason)
{
    public string ReasonText => Reason switch
    {
        McpCallReason.SessionMethod => "a session method every MCP client needs",
        McpCallReason.ClientResponse => "a response to the server's own request",
        McpCallReason.ListedTool => "the tool is listed in the rule's mcp.tools",
        McpCallReason.UnlistedTool => "the tool is not listed in the rule's mcp.tools",
        McpCallReason.MissingToolName => "a tools/call without a tool name",
        McpCallReason.ListedMethod => "the method is listed in the rule's mcp.methods",
        _ => "the method is not listed in the rule's mcp.methods (only session methods and tools/call pass without it)",
    };
}

/// <summary>
/// A permit's MCP section: which tools an agent may call on the servers the rule reaches, which other JSON-RPC
/// methods pass, and whether tool definitions are pinned. Session methods (<see cref="SessionMethods"/>, and every
/// <c>notifications/*</c>) always pass; <c>tools/call</c> passes only for a listed tool; any other method passes only
/// when <see cref="Methods"/> lists it, so a rule without <c>methods</c> denies <c>resources/read</c>,
/// <c>prompts/get</c>, <c>sampling</c> and the rest.
/// </summary>
public sealed record McpRules(IReadOnlyList<Located<string>> Tools, ToolPinning PinTools, IReadOnlyList<Located<string>> Methods, SourceLocation Location)
{
    /// <summary>
    /// Methods every session needs, allowed whatever the rule lists: <c>server/discover</c> is the 2026-07-28 revision's
    /// replacement for <c>initialize</c> (SEP-2575), which the official SDK's client sends first.
    /// </summary>
    public static readonly IReadOnlyList<string> SessionMethods = ["initialize", "server/discover", "ping", "tools/list", "resources/list", "resources/templates/list", "prompts/list"];

    public const string ToolsCall = "tools/call";

    /// <summary>Decides one JSON-RPC request or notification by its method and, for tools/call, the tool's name.</summary>
    public McpCallDecision Decide(string method, string? tool)
    {
        if (method == ToolsCall)
        {
            if (string.IsNullOrEmpty(tool)) return new(false, McpCallReason.MissingToolName);
            foreach (var t in Tools)
                if (string.Equals(t.Value, tool, StringComparison.Ordinal)) return new(true, McpCallReason.ListedTool);
            return new(false, McpCallReason.UnlistedTool);
        }
        if (method.StartsWith("notifications/", StringComparison.Ordinal) || SessionMethods.Contains(method))
            return new(true, McpCallReason.SessionMethod);
        foreach (var m in Methods)
            if (string.Equals(m.Value, method, StringComparison.Ordinal)) return new(true, McpCallReason.ListedMethod);
        return new(false, McpCallReason.UnlistedMethod);
    }
}

using System.Collections.Frozen;
using Corral.Policy.Model;

namespace Corral.Policy.Compilation;

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
/// A rule's MCP section as the gateway decides by it: which tools an agent may call on the servers the rule reaches,
/// which other JSON-RPC methods pass, and whether tool definitions are pinned. Session methods
/// (<see cref="SessionMethods"/>, and every <c>notifications/*</c>) always pass; <c>tools/call</c> passes only for a
/// listed tool; any other method passes only when the rule's <c>methods</c> lists it, so a rule without <c>methods</c>
/// denies <c>resources/read</c>, <c>prompts/get</c>, <c>sampling</c> and the rest. Immutable; built with its rule.
/// </summary>
public sealed class CompiledMcpRules
{
    /// <summary>
    /// Methods every session needs, allowed whatever the rule lists: <c>server/discover</c> is the 2026-07-28 revision's
    /// replacement for <c>initialize</c> (SEP-2575), which the official SDK's client sends first.
    /// </summary>
    public static readonly FrozenSet<string> SessionMethods =
        FrozenSet.Create(StringComparer.Ordinal, "initialize", "server/discover", "ping", "tools/list", "resources/list", "resources/templates/list", "prompts/list");

    /// <summary>The one method decided by the tool it names.</summary>
    public const string ToolsCall = McpRules.ToolsCall;

    private readonly FrozenSet<string> _tools, _methods;

    internal CompiledMcpRules(McpRules rules)
    {
        _tools = rules.Tools.Select(t => t.Value).ToFrozenSet(StringComparer.Ordinal);
        _methods = rules.Methods.Select(m => m.Value).ToFrozenSet(StringComparer.Ordinal);
        PinsTools = rules.PinTools != ToolPinning.Off;
        HoldsChangedTools = rules.PinTools == ToolPinning.Enforce;
    }

    /// <summary>Tool definitions are pinned: a listing that changes them is flagged.</summary>
    public bool PinsTools { get; }

    /// <summary>Calls to a tool whose definition changed since it was pinned are denied until an operator accepts it.</summary>
    public bool HoldsChangedTools { get; }

    /// <summary>Decides one JSON-RPC request or notification by its method and, for tools/call, the tool's name.</summary>
    public McpCallDecision Decide(string method, string? tool)
    {
        if (method == ToolsCall)
        {
            if (string.IsNullOrEmpty(tool)) return new(false, McpCallReason.MissingToolName);
            return _tools.Contains(tool) ? new(true, McpCallReason.ListedTool) : new(false, McpCallReason.UnlistedTool);
        }
        if (method.StartsWith("notifications/", StringComparison.Ordinal) || SessionMethods.Contains(method))
            return new(true, McpCallReason.SessionMethod);
        return _methods.Contains(method) ? new(true, McpCallReason.ListedMethod) : new(false, McpCallReason.UnlistedMethod);
    }
}

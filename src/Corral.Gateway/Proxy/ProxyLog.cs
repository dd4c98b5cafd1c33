using System.Net;
using Microsoft.Extensions.Logging;

namespace Corral.Gateway.Proxy;

/// <summary>Flows: refusals, tunnels, interception, MCP pins: event ids 1100-1199 (the table is in docs/gateway.md).</summary>
internal static partial class ProxyLog
{
    [LoggerMessage(1100, LogLevel.Information, "Flow {FlowId} {Listener} {Source} -> {Destination} denied by {Rule}: {Reason}")]
    public static partial void FlowDenied(this ILogger logger, string flowId, string listener, IPEndPoint source, string destination, string? rule, string reason);

    [LoggerMessage(1101, LogLevel.Warning, "Flow {FlowId} {Listener} {Source} -> {Destination} refused ({Check}): {Reason}")]
    public static partial void FlowRefused(this ILogger logger, string flowId, string listener, IPEndPoint source, string destination, string? check, string reason);

    [LoggerMessage(1102, LogLevel.Information, "Flow {FlowId} {Method} {Url} refused ({By}): {Reason}")]
    public static partial void RequestRefused(this ILogger logger, string flowId, string method, string url, string? by, string reason);

    [LoggerMessage(1103, LogLevel.Warning, "Flow {FlowId}: MCP server {Server} changed tool {Tool} since it was pinned; run 'corral mcp accept {Server}' once reviewed")]
    public static partial void McpToolChanged(this ILogger logger, string flowId, string server, string tool);

    [LoggerMessage(1104, LogLevel.Debug, "Flow {FlowId}: ended early: {Error}")]
    public static partial void TunnelEndedEarly(this ILogger logger, string flowId, string error);

    [LoggerMessage(1105, LogLevel.Warning, "Flow {FlowId}: cannot reach {Destination}: {Error}")]
    public static partial void UpstreamUnreachable(this ILogger logger, string flowId, IPEndPoint? destination, string error);

    [LoggerMessage(1106, LogLevel.Information, "Flow {FlowId}: intercepted connection to {Host} ended: {Error}")]
    public static partial void InterceptionEnded(this ILogger logger, string flowId, string host, string error);
}

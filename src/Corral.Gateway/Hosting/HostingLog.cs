using System.Net;
using Microsoft.Extensions.Logging;

namespace Corral.Gateway.Hosting;

/// <summary>The gateway's listeners, limits and shutdown: event ids 1000-1099 (the table is in docs/gateway.md).</summary>
internal static partial class HostingLog
{
    [LoggerMessage(1000, LogLevel.Information, "Explicit proxy listening on {EndPoint}")]
    public static partial void ExplicitListening(this ILogger logger, IPEndPoint? endPoint);

    [LoggerMessage(1001, LogLevel.Information, "Transparent listener on {EndPoint}")]
    public static partial void TransparentListening(this ILogger logger, IPEndPoint? endPoint);

    [LoggerMessage(1002, LogLevel.Information, "Open-file limit {Soft} (hard {Hard}), {Open} open at start: room for {Safe} connections ({PerConnection} descriptors each, {Reserve} kept for the gateway)")]
    public static partial void OpenFileBudget(this ILogger logger, ulong soft, ulong hard, int open, int safe, int perConnection, int reserve);

    [LoggerMessage(1003, LogLevel.Warning, "--max-connections {Configured} is more than the open-file limit carries: serving at most {Safe} connections at once. Raise the limit (ulimit -n, systemd LimitNOFILE=) to serve more")]
    public static partial void ConnectionLimitLowered(this ILogger logger, int configured, int safe);

    [LoggerMessage(1004, LogLevel.Warning, "{Listener} accept failed: {Error} ({HeldBack} more such failures since the last line){BackingOff}")]
    public static partial void AcceptFailed(this ILogger logger, string listener, string error, long heldBack, string backingOff);

    [LoggerMessage(1005, LogLevel.Debug, "{Listener} connection ended: {Error}")]
    public static partial void ConnectionEnded(this ILogger logger, string listener, string error);

    [LoggerMessage(1006, LogLevel.Error, "{Listener} connection failed")]
    public static partial void ConnectionFailed(this ILogger logger, Exception exception, string listener);

    [LoggerMessage(1007, LogLevel.Information, "Draining {Count} open connection(s), up to {Seconds} s")]
    public static partial void Draining(this ILogger logger, int count, double seconds);

    [LoggerMessage(1008, LogLevel.Warning, "Drain timeout: cutting {Count} connection(s)")]
    public static partial void DrainTimedOut(this ILogger logger, int count);

    [LoggerMessage(1009, LogLevel.Information, "Gateway stopped")]
    public static partial void Stopped(this ILogger logger);

    [LoggerMessage(1010, LogLevel.Warning, "{Listener}: refused {Client} ({Check}: {Reason}); {Since} more refused since the last such line")]
    public static partial void ConnectionRefused(this ILogger logger, string listener, IPEndPoint client, string check, string reason, long since);

    [LoggerMessage(1011, LogLevel.Information, "Shutting down: draining connections")]
    public static partial void ShuttingDown(this ILogger logger);
}

using System.Net;
using Microsoft.Extensions.Logging;

namespace Corral.Admin;

/// <summary>The admin server and the changes made through its API: event ids 2000-2099 (the table is in docs/gateway.md).</summary>
internal static partial class AdminLog
{
    [LoggerMessage(2000, LogLevel.Information, "Admin server on http://{EndPoint}/ (changes {Auth}; reads {Reads})")]
    public static partial void Listening(this ILogger logger, IPEndPoint endPoint, string auth, string reads);

    [LoggerMessage(2001, LogLevel.Information, "Policy {Hash} put in force through the API by {Client}")]
    public static partial void PolicyPut(this ILogger logger, string hash, IPAddress? client);

    [LoggerMessage(2002, LogLevel.Information, "Rule {Rule} set to {Mode} through the API by {Client}")]
    public static partial void RuleModeSet(this ILogger logger, string rule, string mode, IPAddress? client);

    [LoggerMessage(2003, LogLevel.Information, "Rule {Rule} unchanged ({Mode} already) through the API by {Client}")]
    public static partial void RuleModeUnchanged(this ILogger logger, string rule, string mode, IPAddress? client);

    [LoggerMessage(2004, LogLevel.Information, "MCP tool changes of {Server} accepted through the API by {Client}: {Tools}")]
    public static partial void McpToolsAccepted(this ILogger logger, string server, IPAddress? client, IEnumerable<string> tools);
}

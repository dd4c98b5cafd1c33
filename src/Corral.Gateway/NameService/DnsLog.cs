using System.Net;
using Microsoft.Extensions.Logging;

namespace Corral.Gateway.NameService;

/// <summary>The DNS resolver for the agent subnet: event ids 1200-1299 (the table is in docs/gateway.md).</summary>
internal static partial class DnsLog
{
    [LoggerMessage(1200, LogLevel.Information, "DNS resolver on {EndPoint} (UDP and TCP), upstream {Upstream}, dns mode {Mode}")]
    public static partial void Listening(this ILogger logger, IPEndPoint? endPoint, IPEndPoint upstream, string mode);

    [LoggerMessage(1201, LogLevel.Warning, "DNS: names reachable only through address-only rule(s) {Rules} are {What} (dns: mode {Mode})")]
    public static partial void AddressOnlyRules(this ILogger logger, IEnumerable<string> rules, string what, string mode);

    [LoggerMessage(1202, LogLevel.Error, "DNS query from {Client} failed")]
    public static partial void QueryFailed(this ILogger logger, Exception exception, IPEndPoint client);

    [LoggerMessage(1203, LogLevel.Warning, "DNS query for {Name} from {Client} refused: not in any source group of the policy")]
    public static partial void NotASource(this ILogger logger, string name, IPEndPoint client);

    [LoggerMessage(1204, LogLevel.Information, "DNS query {Name} ({Type}) from {Client} refused by {Rule}: {Reason}")]
    public static partial void QueryRefused(this ILogger logger, string name, string type, IPEndPoint client, string rule, string reason);
}

using Corral.Policy.Addressing;
using Microsoft.Extensions.Logging;

namespace Corral.Cli.Commands;

/// <summary><c>corral gateway</c>'s own start: event ids 3000-3099 (the table is in docs/gateway.md).</summary>
internal static partial class GatewayCommandLog
{
    [LoggerMessage(3000, LogLevel.Warning, "Treating {StandIns} as public internet (--public-standin): lab/test setting, never for production")]
    public static partial void PublicStandIns(this ILogger logger, IReadOnlyList<IpPrefix> standIns);

    [LoggerMessage(3001, LogLevel.Information, "Policy {Name} ({Hash}) in force")]
    public static partial void PolicyInForce(this ILogger logger, string name, string hash);

    [LoggerMessage(3003, LogLevel.Warning, "Rules {Rules} name only agents as sources: they never match on the transparent listener, which has addresses only (agents authenticate on the explicit listener)")]
    public static partial void AgentRulesNotTransparent(this ILogger logger, IReadOnlyList<string> rules);

    [LoggerMessage(3002, LogLevel.Information, "Traces exported over OTLP ({Protocol}) to {Endpoint}")]
    public static partial void TracesExported(this ILogger logger, string protocol, string endpoint);
}

using Microsoft.Extensions.Logging;

namespace Corral.Gateway.Reload;

/// <summary>Writes each policy change to the gateway's log: the policy put in force, a refusal and why, drift from the file.</summary>
public sealed partial class ReloadLog(ILogger logger) : IPolicyChangeListener
{
    public void Applied(ReloadStatus status, ReloadSource source, bool changed)
    {
        if (changed) InForce(logger, status.PolicyName, status.Hash, source.Label());
        if (status.Drift is { } drift) Drift(logger, drift);
    }

    public void Refused(ReloadStatus status, ReloadFailure failure) => Failed(logger, failure.Source.Label(), status.Hash, failure.Message);

    [LoggerMessage(EventId = 1200, Level = LogLevel.Information, Message = "Policy {Name} ({Hash}) in force, from {Source}")]
    private static partial void InForce(ILogger logger, string name, string hash, string source);

    [LoggerMessage(EventId = 1201, Level = LogLevel.Error, Message = "Policy reload from {Source} failed; {Hash} stays in force: {Error}")]
    private static partial void Failed(ILogger logger, string source, string hash, string error);

    [LoggerMessage(EventId = 1202, Level = LogLevel.Warning, Message = "Policy drift: {Drift}")]
    private static partial void Drift(ILogger logger, string drift);
}

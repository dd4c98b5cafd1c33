using Microsoft.Extensions.Logging;

namespace Corral.Gateway.Reload;

/// <summary>
/// Writes each policy change to the gateway's log (the policy put in force, a refusal and why, drift from the file), and
/// holds every message of policy reloads and the file watch: event ids 1300-1399 (the table is in docs/gateway.md).
/// </summary>
/// <remarks>Told one attempt at a time (<see cref="PolicyApplier"/> serialises them), so it counts failures in a row unlocked.</remarks>
public sealed partial class ReloadLog(ILogger logger) : IPolicyChangeListener
{
    private long _failuresInARow;

    public void Applied(ReloadStatus status, ReloadSource source, bool changed)
    {
        if (changed) PolicyInForce(logger, status.PolicyName, status.Hash, source.Label());
        // The log ended with the failure: say that it cleared, also when the fix put back the text already in force.
        if (_failuresInARow > 0) FailureCleared(logger, _failuresInARow, status.PolicyName, status.Hash, source.Label());
        _failuresInARow = 0;
        if (status.Drift is { } drift) Drift(logger, drift);
    }

    public void Refused(ReloadStatus status, ReloadFailure failure)
    {
        _failuresInARow++;
        ReloadFailed(logger, failure.Source.Label(), status.Hash, failure.Message);
    }

    [LoggerMessage(1300, LogLevel.Error, "Policy reload from {Source} failed; {Hash} stays in force: {Error}")]
    private static partial void ReloadFailed(ILogger logger, string source, string hash, string error);

    [LoggerMessage(1301, LogLevel.Information, "Policy {Name} ({Hash}) in force, from {Source}")]
    private static partial void PolicyInForce(ILogger logger, string name, string hash, string source);

    [LoggerMessage(1310, LogLevel.Information, "Policy reload failure cleared after {Failures} failed attempt(s): {Name} ({Hash}) in force, from {Source}")]
    private static partial void FailureCleared(ILogger logger, long failures, string name, string hash, string source);

    [LoggerMessage(1302, LogLevel.Warning, "Policy drift: {Drift}")]
    private static partial void Drift(ILogger logger, string drift);

    [LoggerMessage(1303, LogLevel.Warning, "Reload status listener failed")]
    internal static partial void StatusListenerFailed(ILogger logger, Exception exception);

    [LoggerMessage(1304, LogLevel.Warning, "inotify unavailable ({Error}); watching with FileSystemWatcher")]
    internal static partial void InotifyUnavailable(ILogger logger, string error);

    [LoggerMessage(1305, LogLevel.Warning, "Cannot watch {Directory}: it does not exist")]
    internal static partial void DirectoryMissing(ILogger logger, string directory);

    [LoggerMessage(1306, LogLevel.Warning, "Cannot watch {Directory}: {Error}")]
    internal static partial void CannotWatch(ILogger logger, string directory, string? error);

    [LoggerMessage(1307, LogLevel.Warning, "File watcher for {Directory}: {Error}; reloading to be safe")]
    internal static partial void WatcherError(ILogger logger, string directory, string error);

    [LoggerMessage(1308, LogLevel.Warning, "inotify lost events; reloading to be safe")]
    internal static partial void InotifyOverflow(ILogger logger);

    [LoggerMessage(1309, LogLevel.Error, "Policy reload after a file change failed")]
    internal static partial void ReloadAfterChangeFailed(ILogger logger, Exception exception);
}

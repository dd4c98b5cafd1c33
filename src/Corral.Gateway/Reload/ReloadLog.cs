using Microsoft.Extensions.Logging;

namespace Corral.Gateway.Reload;

/// <summary>Policy reloads and the file watch: event ids 1300-1399 (the table is in docs/gateway.md).</summary>
internal static partial class ReloadLog
{
    [LoggerMessage(1300, LogLevel.Error, "Policy reload from {Source} failed; {Hash} stays in force: {Error}")]
    public static partial void ReloadFailed(this ILogger logger, string source, string hash, string error);

    [LoggerMessage(1301, LogLevel.Information, "Policy {Name} ({Hash}) in force, from {Source}")]
    public static partial void PolicyInForce(this ILogger logger, string name, string hash, string source);

    [LoggerMessage(1302, LogLevel.Warning, "Policy drift: {Drift}")]
    public static partial void Drift(this ILogger logger, string drift);

    [LoggerMessage(1303, LogLevel.Warning, "Reload status listener failed")]
    public static partial void StatusListenerFailed(this ILogger logger, Exception exception);

    [LoggerMessage(1304, LogLevel.Warning, "inotify unavailable ({Error}); watching with FileSystemWatcher")]
    public static partial void InotifyUnavailable(this ILogger logger, string error);

    [LoggerMessage(1305, LogLevel.Warning, "Cannot watch {Directory}: it does not exist")]
    public static partial void DirectoryMissing(this ILogger logger, string directory);

    [LoggerMessage(1306, LogLevel.Warning, "Cannot watch {Directory}: {Error}")]
    public static partial void CannotWatch(this ILogger logger, string directory, string? error);

    [LoggerMessage(1307, LogLevel.Warning, "File watcher for {Directory}: {Error}; reloading to be safe")]
    public static partial void WatcherError(this ILogger logger, string directory, string error);

    [LoggerMessage(1308, LogLevel.Warning, "inotify lost events; reloading to be safe")]
    public static partial void InotifyOverflow(this ILogger logger);

    [LoggerMessage(1309, LogLevel.Error, "Policy reload after a file change failed")]
    public static partial void ReloadAfterChangeFailed(this ILogger logger, Exception exception);
}

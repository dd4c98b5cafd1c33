using Microsoft.Extensions.Logging;

namespace Corral.Gateway.FlowLog;

/// <summary>The flow log file: event ids 1400-1499 (the table is in docs/gateway.md).</summary>
internal static partial class FlowLogWriterLog
{
    [LoggerMessage(1400, LogLevel.Error, "Flow log is falling behind: {Dropped} record(s) dropped so far (flow {FlowId}, {Event})")]
    public static partial void FallingBehind(this ILogger logger, long dropped, string? flowId, FlowEvent @event);

    [LoggerMessage(1401, LogLevel.Critical, "Flow log writer failed; flow records are no longer written to {Path}")]
    public static partial void WriterFailed(this ILogger logger, Exception exception, string path);

    [LoggerMessage(1402, LogLevel.Warning, "Flow log {Path} ended in a partial line (a writer was stopped in the middle of a write); ending it before the next record")]
    public static partial void PartialLine(this ILogger logger, string path);

    [LoggerMessage(1403, LogLevel.Warning, "Flow log {Path} is written again after {Seconds:F1} s; {Lost} record(s) were not written meanwhile (counted in corral_gateway_flowlog_dropped_total)")]
    public static partial void Recovered(this ILogger logger, string path, double seconds, long lost);

    [LoggerMessage(1404, LogLevel.Critical, "Flow log {Path} cannot be written: {Problem}. Records wait in the queue and are retried every {Retry} ms; once the queue is full they are dropped and counted")]
    public static partial void CannotWrite(this ILogger logger, string path, string problem, double retry);

    [LoggerMessage(1405, LogLevel.Critical, "Flow log {Path} still cannot be written ({Seconds:F0} s): {Problem}; {Lost} record(s) dropped meanwhile")]
    public static partial void StillCannotWrite(this ILogger logger, string path, double seconds, string problem, long lost);

    [LoggerMessage(1406, LogLevel.Error, "Flow log {Path} could not be rotated: {Error}")]
    public static partial void RotationFailed(this ILogger logger, string path, string error);
}

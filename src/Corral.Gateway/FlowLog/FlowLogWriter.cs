using System.Buffers;
using System.Diagnostics.Metrics;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace Corral.Gateway.FlowLog;

/// <summary>Where flow records go.</summary>
public interface IFlowLog
{
    /// <summary>Queues a record without waiting; a record that cannot be queued is counted and reported, never lost silently.</summary>
    void Write(FlowRecord record);
}

/// <summary>
/// Writes flow records as JSON lines off the hot path: connections queue records on a bounded channel and one
/// background task writes them, rotating the file by size. When the queue is full a record is dropped, counted in
/// the <c>corral.gateway.flowlog.dropped</c> metric and reported in the operational log.
/// </summary>
public sealed class FlowLogWriter : IFlowLog, IAsyncDisposable
{
    private static readonly JsonWriterOptions JsonOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private readonly Channel<FlowRecord> _queue;
    private readonly string _path;
    private readonly long _maxBytes;
    private readonly int _maxFiles;
    private readonly ILogger _logger;
    private readonly Counter<long> _dropped;
    private readonly Counter<long> _written;
    private readonly Task _pump;
    private long _droppedTotal;
    private long _droppedReported;

    public FlowLogWriter(string path, long maxBytes, int maxFiles, int capacity, Meter meter, ILogger logger)
    {
        _path = Path.GetFullPath(path);
        _maxBytes = Math.Max(4096, maxBytes);
        _maxFiles = Math.Max(1, maxFiles);
        _logger = logger;
        _dropped = meter.CreateCounter<long>("corral.gateway.flowlog.dropped", description: "Flow-log records dropped because the writer fell behind");
        _written = meter.CreateCounter<long>("corral.gateway.flowlog.written", description: "Flow-log records written");
        _queue = Channel.CreateBounded<FlowRecord>(new BoundedChannelOptions(Math.Max(16, capacity))
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait, // with TryWrite: a full queue refuses, so we can count the drop
        });
        Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
        _pump = Task.Run(PumpAsync);
    }

    /// <summary>Records dropped so far.</summary>
    public long Dropped => Interlocked.Read(ref _droppedTotal);

    public void Write(FlowRecord record)
    {
        if (_queue.Writer.TryWrite(record)) return;
        _dropped.Add(1);
        var total = Interlocked.Increment(ref _droppedTotal);
        // Report the first drop at once, then at most once per 1000 so that logging does not add to the overload.
        if (total == 1 || total - Interlocked.Read(ref _droppedReported) >= 1000)
        {
            Interlocked.Exchange(ref _droppedReported, total);
            _logger.LogError("Flow log is falling behind: {Dropped} record(s) dropped so far (flow {FlowId}, {Event})", total, record.FlowId, record.Event);
        }
    }

    private async Task PumpAsync()
    {
        var stream = Open();
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(4096);
        using var json = new Utf8JsonWriter(buffer, JsonOptions);
        try
        {
            var reader = _queue.Reader;
            while (await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                while (reader.TryRead(out var record))
                {
                    buffer.ResetWrittenCount();
                    json.Reset(buffer);
                    FlowRecordJson.Write(json, record);
                    json.Flush();
                    buffer.Write("\n"u8);
                    if (stream.Length + buffer.WrittenCount > _maxBytes && stream.Length > 0)
                    {
                        await stream.DisposeAsync().ConfigureAwait(false);
                        Rotate();
                        stream = Open();
                    }
                    await stream.WriteAsync(buffer.WrittenMemory).ConfigureAwait(false);
                    _written.Add(1);
                }
                await stream.FlushAsync().ConfigureAwait(false);
            }
        }
        catch (Exception e)
        {
            _logger.LogCritical(e, "Flow log writer failed; flow records are no longer written to {Path}", _path);
            throw;
        }
        finally
        {
            await stream.DisposeAsync().ConfigureAwait(false);
        }
    }

    private FileStream Open() => new(_path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete, 64 * 1024, useAsync: true);

    private void Rotate()
    {
        for (var i = _maxFiles - 1; i >= 1; i--)
        {
            var from = $"{_path}.{i}";
            if (File.Exists(from)) File.Move(from, $"{_path}.{i + 1}", overwrite: true);
        }
        File.Move(_path, $"{_path}.1", overwrite: true);
        var excess = $"{_path}.{_maxFiles + 1}";
        if (File.Exists(excess)) File.Delete(excess);
    }

    /// <summary>Writes what is queued, then stops.</summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        try { await _pump.ConfigureAwait(false); }
        catch (Exception) { /* already logged by the pump */ }
    }
}

/// <summary>A flow log that keeps nothing (no --flow-log given); decisions still reach the operational log.</summary>
public sealed class NullFlowLog : IFlowLog
{
    public void Write(FlowRecord record) { }
}

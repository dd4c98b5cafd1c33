using System.Buffers;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
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
/// background thread writes them in batches, rotating the file by size. When the queue is full a record is dropped,
/// counted in the <c>corral.gateway.flowlog.dropped</c> metric and reported in the operational log.
/// </summary>
/// <remarks>
/// Cost per record matters (two records per connection): the writer keeps the file length itself (no fstat per
/// record), writes each batch with one synchronous write on its own thread (no thread-pool hop per write), and after a
/// batch lets <see cref="Coalesce"/> pass before looking again, so a busy gateway wakes it once per batch rather than
/// once per record. A record reaches the file at most that much later; the in-memory ring sees it at once.
/// </remarks>
public sealed class FlowLogWriter : IFlowLog, IAsyncDisposable
{
    private static readonly JsonWriterOptions JsonOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>How long the writer waits after a batch before taking the next one.</summary>
    public static readonly TimeSpan Coalesce = TimeSpan.FromMilliseconds(5);

    /// <summary>A batch is written out once it holds this many bytes.</summary>
    private const int BatchBytes = 64 * 1024;

    private readonly Channel<FlowRecord> _queue;
    private readonly string _path;
    private readonly long _maxBytes;
    private readonly int _maxFiles;
    private readonly ILogger _logger;
    private readonly Counter<long> _dropped;
    private readonly Counter<long> _written;
    private readonly TaskCompletionSource _pumped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ManualResetEventSlim _woken = new(false, spinCount: 1);
    private readonly Action _wake;
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
            // The only continuation is the writer thread's wake-up (see WaitToRead): run it in TryWrite rather than
            // through a thread-pool work item.
            AllowSynchronousContinuations = true,
        });
        Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
        _wake = _woken.Set;
        new Thread(Pump) { IsBackground = true, Name = "Corral flow log writer" }.Start();
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

    // The writer's whole life is this one call: without this it would run tier-0 code (no tiering for a loop it never leaves).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Pump()
    {
        FileStream? stream = null;
        Exception? failure = null;
        try
        {
            stream = Open();
            var length = stream.Length;
            var batch = new ArrayBufferWriter<byte>(BatchBytes + 4096);
            var line = new ArrayBufferWriter<byte>(1024);
            using var json = new Utf8JsonWriter(line, JsonOptions);
            var reader = _queue.Reader;
            while (WaitToRead(reader))
            {
                length = stream.Length; // once per batch: a file truncated or appended by others (copytruncate) is seen
                var count = 0;
                while (reader.TryRead(out var record))
                {
                    line.ResetWrittenCount();
                    json.Reset(line);
                    FlowRecordJson.Write(json, record);
                    json.Flush();
                    line.Write("\n"u8);
                    // Rotate before a line that would take the file past the limit (a file holds at least one line).
                    if (length + batch.WrittenCount + line.WrittenCount > _maxBytes && length + batch.WrittenCount > 0)
                    {
                        length += WriteOut(stream, batch);
                        stream.Dispose();
                        Rotate();
                        stream = Open();
                        length = 0;
                    }
                    batch.Write(line.WrittenSpan);
                    count++;
                    if (batch.WrittenCount >= BatchBytes) length += WriteOut(stream, batch);
                }
                length += WriteOut(stream, batch);
                if (count > 0)
                {
                    _written.Add(count);
                    Thread.Sleep(Coalesce);
                }
            }
        }
        catch (Exception e)
        {
            _logger.LogCritical(e, "Flow log writer failed; flow records are no longer written to {Path}", _path);
            failure = e;
        }
        finally
        {
            // Only after the file is closed: DisposeAsync returns once everything queued is written and released.
            try { stream?.Dispose(); }
            finally
            {
                if (failure is null) _pumped.TrySetResult(); else _pumped.TrySetException(failure);
            }
        }
    }

    /// <summary>Blocks this (the writer's own) thread until a record is queued; false once the queue is completed and empty.</summary>
    /// <remarks>Blocks on an event without spinning first (Task.Wait would spin): the writer is woken once per batch.</remarks>
    private bool WaitToRead(ChannelReader<FlowRecord> reader)
    {
        var ready = reader.WaitToReadAsync();
        if (ready.IsCompleted) return ready.GetAwaiter().GetResult();
        _woken.Reset();
        var awaiter = ready.ConfigureAwait(false).GetAwaiter();
        awaiter.UnsafeOnCompleted(_wake);
        _woken.Wait();
        return awaiter.GetResult();
    }

    private static int WriteOut(FileStream stream, ArrayBufferWriter<byte> batch)
    {
        var n = batch.WrittenCount;
        if (n == 0) return 0;
        stream.Write(batch.WrittenSpan);
        batch.ResetWrittenCount();
        return n;
    }

    // Unbuffered: each batch is one write system call.
    private FileStream Open() => new(_path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0, useAsync: false);

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
        try { await _pumped.Task.ConfigureAwait(false); }
        catch (Exception) { /* already logged by the writer */ }
        _woken.Dispose();
    }
}

/// <summary>A flow log that keeps nothing (no --flow-log given); decisions still reach the operational log.</summary>
public sealed class NullFlowLog : IFlowLog
{
    public void Write(FlowRecord record) { }
}

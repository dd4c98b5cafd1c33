using System.Buffers;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Threading.Channels;
using Corral.Audit;
using Microsoft.Extensions.Logging;

namespace Corral.Gateway.FlowLog;

/// <summary>Where flow records go.</summary>
public interface IFlowLog
{
    /// <summary>Queues a record without waiting; a record that cannot be queued is counted and reported, never lost silently.</summary>
    void Write(FlowRecord record);

    /// <summary>Whether records reach their destination now, and what was lost so far.</summary>
    FlowLogStatus Status => FlowLogStatus.Healthy;
}

/// <summary>
/// The flow log's health. <see cref="Problem"/> is set while records cannot be written (a full disk, a missing
/// directory, no descriptors left): they are then held in the queue and retried, and dropped (and counted) once the
/// queue is full.
/// </summary>
/// <param name="Problem">Why records cannot be written now; null while writing works.</param>
/// <param name="Since">When the current problem began.</param>
/// <param name="Dropped">Records never written, over the writer's life (queue full or write failed).</param>
/// <param name="Written">Records handed to the kernel (written(2)), over the writer's life.</param>
public sealed record FlowLogStatus(string? Problem, DateTimeOffset? Since, long Dropped, long Written)
{
    public static readonly FlowLogStatus Healthy = new(null, null, 0, 0);

    /// <summary>False while records cannot be written.</summary>
    public bool Recording => Problem is null;
}

/// <summary>
/// Writes flow records as JSON lines off the hot path: connections queue records on a bounded channel and one
/// background thread writes them in batches, rotating the file by size. A record that is not written is counted in
/// the <c>corral.gateway.flowlog.dropped</c> metric (<c>reason</c>: <c>queue-full</c> or <c>write-failed</c>) and
/// reported in the operational log; none is lost without being counted.
/// </summary>
/// <remarks>
/// Cost per record matters (two records per connection): each batch is one write system call on its own thread (no
/// thread-pool hop per write), and after a batch the writer lets <see cref="Coalesce"/> pass before looking again, so
/// a busy gateway wakes it once per batch rather than once per record. A record reaches the file at most that much
/// later; the in-memory ring sees it at once.
/// <para>
/// Failures: a batch is appended whole or not at all (<see cref="AppendFile.AppendWhole"/>). When a write fails the
/// writer keeps the batch, stops taking records (they wait in the queue, and past its capacity are dropped and
/// counted) and tries again every <see cref="RetryInterval"/>; the first success resumes writing. While failing,
/// <see cref="Status"/> names the problem (readiness, dashboard) and <c>corral.gateway.flowlog.failing</c> is 1.
/// </para>
/// <para>
/// Tamper evidence: every line carries the hash chain (<c>"seq"</c>, <c>"prev"</c>), continued across rotation and
/// restarts; with a signer, a signed checkpoint follows every <c>checkpointEvery</c> records and marks start, rotation
/// and shutdown; records dropped for a full queue leave a gap record. All of it is computed here, on the writer's
/// thread, never on a connection's. In the OCSF format the records are OCSF events (their chain fields in
/// <c>unmapped.corral</c>); checkpoint and gap lines stay in the native format, being no events of OCSF's.
/// </para>
/// <para>
/// Rotation by others: the file is opened with <c>O_APPEND</c>, so copytruncate needs nothing; once per batch the
/// writer checks that the path still names its file and reopens it when it was renamed away or deleted.
/// </para>
/// </remarks>
public sealed class FlowLogWriter : IFlowLog, IAsyncDisposable
{
    private static readonly JsonWriterOptions JsonOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private static readonly KeyValuePair<string, object?> QueueFull = new("reason", "queue-full");
    private static readonly KeyValuePair<string, object?> WriteFailed = new("reason", "write-failed");

    /// <summary>How long the writer waits after a batch before taking the next one.</summary>
    public static readonly TimeSpan Coalesce = TimeSpan.FromMilliseconds(5);

    /// <summary>How often a failing write is tried again.</summary>
    public static readonly TimeSpan RetryInterval = TimeSpan.FromMilliseconds(500);

    /// <summary>While failing, the problem is logged again this often (with what was lost so far).</summary>
    private static readonly TimeSpan FailureReport = TimeSpan.FromSeconds(60);

    /// <summary>A batch is written out once it holds this many bytes.</summary>
    private const int BatchBytes = 64 * 1024;

    /// <summary>Records between two signed checkpoints, unless configured.</summary>
    public const int DefaultCheckpointEvery = 1000;

    /// <summary>Room kept below the size limit for the checkpoint that closes a file (one is about 260 bytes).</summary>
    private const int CheckpointRoom = 512;

    /// <summary>How much of a file's end is read to pick up its chain (a record is far shorter).</summary>
    private const int ResumeTail = 256 * 1024;

    private readonly Channel<FlowRecord> _queue;
    private readonly string _path;
    private readonly long _maxBytes;
    private readonly int _maxFiles;
    private readonly ILogger _logger;
    private readonly Counter<long> _dropped;
    private readonly Counter<long> _written;
    private readonly TaskCompletionSource _pumped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ManualResetEventSlim _woken = new(false, spinCount: 1);
    private readonly ManualResetEventSlim _stopping = new(false);
    private readonly Action _wake;
    private long _droppedTotal;
    private long _droppedReported;
    private long _writtenTotal;
    private long _queueFullTotal;
    private volatile Failure? _failure;
    private readonly CheckpointSigner? _signer;
    private readonly int _checkpointEvery;
    private readonly FlowLogFormat _format;
    // The chain, touched only by the writer thread: the next line's link, that link as of the last successful append,
    // the records since the last checkpoint, the queue-full drops already written as a gap record, and whether a
    // reopened file ended in a torn write.
    private ChainLink _link, _committedLink;
    private long _sinceCheckpoint, _gapRecorded;
    private bool _tornWrite;

    /// <summary>A failure in progress: what, since when, and the drop count when it began.</summary>
    private sealed record Failure(string Problem, DateTimeOffset Since, long DroppedBefore)
    {
        public DateTimeOffset ReportedAt { get; set; } = Since;
    }

    public FlowLogWriter(string path, long maxBytes, int maxFiles, int capacity, Meter meter, ILogger logger,
        CheckpointSigner? signer = null, int checkpointEvery = DefaultCheckpointEvery, FlowLogFormat format = FlowLogFormat.Corral)
    {
        _signer = signer;
        _format = format;
        _checkpointEvery = Math.Max(1, checkpointEvery);
        _path = Path.GetFullPath(path);
        _maxBytes = Math.Max(4096, maxBytes);
        _maxFiles = Math.Max(1, maxFiles);
        _logger = logger;
        _dropped = meter.CreateCounter<long>("corral.gateway.flowlog.dropped", description: "Flow-log records not written (reason: queue-full or write-failed)");
        _written = meter.CreateCounter<long>("corral.gateway.flowlog.written", description: "Flow-log records written");
        meter.CreateObservableGauge("corral.gateway.flowlog.failing", () => _failure is null ? 0 : 1, description: "1 while flow-log records cannot be written");
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

    /// <summary>Records not written so far.</summary>
    public long Dropped => Interlocked.Read(ref _droppedTotal);

    public FlowLogStatus Status => _failure is { } f
        ? new FlowLogStatus($"{_path}: {f.Problem}", f.Since, Dropped, Interlocked.Read(ref _writtenTotal))
        : new FlowLogStatus(null, null, Dropped, Interlocked.Read(ref _writtenTotal));

    public void Write(FlowRecord record)
    {
        if (_queue.Writer.TryWrite(record)) return;
        Interlocked.Increment(ref _queueFullTotal); // the writer records it as a gap in the chain
        var total = CountDropped(1, QueueFull);
        // Report the first drop at once, then at most once per 1000 so that logging does not add to the overload.
        if (total == 1 || total - Interlocked.Read(ref _droppedReported) >= 1000)
        {
            Interlocked.Exchange(ref _droppedReported, total);
            _logger.FallingBehind(total, record.FlowId, record.Event);
        }
    }

    private long CountDropped(int records, KeyValuePair<string, object?> reason)
    {
        _dropped.Add(records, reason);
        return Interlocked.Add(ref _droppedTotal, records);
    }

    // The writer's whole life is this one call: without this it would run tier-0 code (no tiering for a loop it never leaves).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Pump()
    {
        AppendFile? file = null;
        Exception? failure = null;
        try
        {
            var batch = new ArrayBufferWriter<byte>(BatchBytes + 4096);
            var records = 0;
            var line = new ArrayBufferWriter<byte>(1024);
            using var json = new Utf8JsonWriter(line, JsonOptions);
            using var ocsf = _format == FlowLogFormat.Ocsf ? new OcsfRecordJson(JsonOptions) : null;
            var reader = _queue.Reader;
            var room = _signer is null ? 0 : CheckpointRoom;
            _link = _committedLink = ResumeChain();
            CurrentLength(ref file); // opens the file, ending a torn last write first
            AppendGaps(batch, line, json);
            if (_signer is not null) AppendCheckpoint(batch, line, json, CheckpointReason.Start);
            Commit(ref file, batch, ref records);
            while (WaitToRead(reader))
            {
                var length = CurrentLength(ref file);
                AppendGaps(batch, line, json);
                var count = 0;
                while (reader.TryRead(out var record))
                {
                    Serialize(line, json, ocsf, record);
                    // Rotate before a line that would take the file past the limit (a file holds at least one line),
                    // keeping room for the checkpoint that closes it.
                    if (length + batch.WrittenCount + line.WrittenCount + room > _maxBytes && length + batch.WrittenCount > 0)
                    {
                        if (_signer is not null) AppendCheckpoint(batch, line, json, CheckpointReason.Rotation);
                        Commit(ref file, batch, ref records);
                        Rotate(ref file);
                        length = CurrentLength(ref file);
                        Serialize(line, json, ocsf, record); // again: its link follows the checkpoint
                    }
                    AppendLine(batch, line);
                    records++;
                    count++;
                    if (_signer is not null && ++_sinceCheckpoint >= _checkpointEvery) AppendCheckpoint(batch, line, json, CheckpointReason.Interval);
                    if (batch.WrittenCount >= BatchBytes) length += Commit(ref file, batch, ref records);
                }
                Commit(ref file, batch, ref records);
                if (count > 0) Thread.Sleep(Coalesce);
            }
            AppendGaps(batch, line, json);
            if (_signer is not null) AppendCheckpoint(batch, line, json, CheckpointReason.Shutdown);
            Commit(ref file, batch, ref records);
        }
        catch (Exception e)
        {
            _logger.WriterFailed(e, _path);
            _failure = new Failure($"the writer stopped: {e.Message}", DateTimeOffset.UtcNow, Dropped); // readiness says so from now on
            failure = e;
        }
        finally
        {
            // Only after the file is closed: DisposeAsync returns once everything queued is written (or counted) and released.
            try { file?.Dispose(); }
            finally
            {
                if (failure is null) _pumped.TrySetResult(); else _pumped.TrySetException(failure);
            }
        }
    }

    /// <summary>Writes <paramref name="record"/> as one line (with its newline) linked at the chain's current place.</summary>
    private void Serialize(ArrayBufferWriter<byte> line, Utf8JsonWriter json, OcsfRecordJson? ocsf, FlowRecord record)
    {
        line.ResetWrittenCount();
        json.Reset(line);
        if (ocsf is null) FlowRecordJson.Write(json, record, _link);
        else ocsf.Write(json, record, _link);
        json.Flush();
        line.Write("\n"u8);
    }

    /// <summary>Adds the line to the batch and moves the chain past it.</summary>
    private void AppendLine(ArrayBufferWriter<byte> batch, ArrayBufferWriter<byte> line)
    {
        batch.Write(line.WrittenSpan);
        _link = _link.Next(line.WrittenSpan[..^1]);
    }

    private void AppendCheckpoint(ArrayBufferWriter<byte> batch, ArrayBufferWriter<byte> line, Utf8JsonWriter json, CheckpointReason reason)
    {
        line.ResetWrittenCount();
        json.Reset(line);
        ChainLines.WriteCheckpoint(json, _link, DateTimeOffset.UtcNow, reason, _signer!);
        json.Flush();
        line.Write("\n"u8);
        AppendLine(batch, line);
        _sinceCheckpoint = 0;
    }

    /// <summary>Records what was lost since the last look: a torn write found on opening the file, records a full queue refused.</summary>
    private void AppendGaps(ArrayBufferWriter<byte> batch, ArrayBufferWriter<byte> line, Utf8JsonWriter json)
    {
        if (_tornWrite)
        {
            _tornWrite = false;
            AppendGap(batch, line, json, "torn-write", null);
        }
        var refused = Interlocked.Read(ref _queueFullTotal);
        if (refused > _gapRecorded)
        {
            AppendGap(batch, line, json, "queue-full", refused - _gapRecorded);
            _gapRecorded = refused;
        }
    }

    private void AppendGap(ArrayBufferWriter<byte> batch, ArrayBufferWriter<byte> line, Utf8JsonWriter json, string reason, long? dropped)
    {
        line.ResetWrittenCount();
        json.Reset(line);
        ChainLines.WriteGap(json, _link, DateTimeOffset.UtcNow, reason, dropped);
        json.Flush();
        line.Write("\n"u8);
        AppendLine(batch, line);
    }

    /// <summary>
    /// Where the chain goes on: after the last chained line of the live file, or, when it has none (just rotated), of
    /// the newest rotated file; a new chain when neither has one.
    /// </summary>
    private ChainLink ResumeChain()
    {
        foreach (var candidate in new[] { _path, $"{_path}.1" })
        {
            try
            {
                using var stream = new FileStream(candidate, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                var start = Math.Max(0, stream.Length - ResumeTail);
                stream.Position = start;
                var tail = new byte[stream.Length - start];
                stream.ReadExactly(tail);
                if (ChainResume.After(tail) is { } link) return link;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* not there or unreadable: try the next */ }
        }
        return ChainLink.First;
    }

    /// <summary>
    /// The length of the file the path names now: reopens it when it was renamed away or deleted (rotation by
    /// others), and sees truncation and others' appends. 0 when it cannot be opened (the next commit reports why).
    /// </summary>
    private long CurrentLength(ref AppendFile? file)
    {
        try
        {
            if (file is not null && !file.IsStillAt(_path))
            {
                file.Dispose();
                file = null;
            }
            file ??= OpenTerminated();
            return file.Length;
        }
        catch (IOException)
        {
            file?.Dispose();
            file = null;
            return 0;
        }
    }

    /// <summary>
    /// Opens the file; when it ends in a partial line (a process killed in the middle of a write), ends that line
    /// first so that the next record starts on a line of its own.
    /// </summary>
    private AppendFile OpenTerminated()
    {
        var file = AppendFile.Open(_path);
        try
        {
            var last = file.LastByte();
            if (last is not -1 and not '\n')
            {
                _logger.PartialLine(_path);
                file.AppendWhole("\n"u8);
                _tornWrite = true;
            }
            return file;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Appends the batch, whole. On failure keeps it and tries again every <see cref="RetryInterval"/> until it is
    /// written, or, once the writer is stopping, counts its records as dropped. Returns the bytes written.
    /// </summary>
    private int Commit(ref AppendFile? file, ArrayBufferWriter<byte> batch, ref int records)
    {
        if (batch.WrittenCount == 0) return 0;
        var bytes = batch.WrittenCount;
        for (var attempt = 0; !TryAppend(ref file, batch.WrittenSpan, records); attempt++)
        {
            if (_stopping.IsSet && attempt > 0)
            {
                // Stopping and still failing: what is held cannot be written; count it rather than lose it silently.
                CountDropped(records, WriteFailed);
                _link = _committedLink; // the chain goes on from what is on disk
                bytes = 0;
                break;
            }
            _stopping.Wait(RetryInterval);
        }
        if (bytes > 0) _committedLink = _link;
        batch.ResetWrittenCount();
        records = 0;
        return bytes;
    }

    private bool TryAppend(ref AppendFile? file, ReadOnlySpan<byte> lines, int records)
    {
        try
        {
            file ??= OpenTerminated();
            file.AppendWhole(lines);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            file?.Dispose();
            file = null; // reopened on the next attempt: a deleted directory or a descriptor shortage may be over by then
            ReportFailure(e.Message);
            return false;
        }
        if (records > 0)
        {
            _written.Add(records);
            Interlocked.Add(ref _writtenTotal, records);
        }
        if (_failure is { } ended)
        {
            _failure = null;
            _logger.Recovered(_path, (DateTimeOffset.UtcNow - ended.Since).TotalSeconds, Dropped - ended.DroppedBefore);
        }
        return true;
    }

    private void ReportFailure(string problem)
    {
        var now = DateTimeOffset.UtcNow;
        if (_failure is not { } current)
        {
            _failure = new Failure(problem, now, Dropped);
            _logger.CannotWrite(_path, problem, RetryInterval.TotalMilliseconds);
        }
        else if (now - current.ReportedAt >= FailureReport)
        {
            current.ReportedAt = now;
            _logger.StillCannotWrite(_path, (now - current.Since).TotalSeconds, problem, Dropped - current.DroppedBefore);
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

    private void Rotate(ref AppendFile? file)
    {
        file?.Dispose();
        file = null;
        try
        {
            for (var i = _maxFiles - 1; i >= 1; i--)
            {
                var from = $"{_path}.{i}";
                if (File.Exists(from)) File.Move(from, $"{_path}.{i + 1}", overwrite: true);
            }
            if (File.Exists(_path)) File.Move(_path, $"{_path}.1", overwrite: true);
            var excess = $"{_path}.{_maxFiles + 1}";
            if (File.Exists(excess)) File.Delete(excess);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Writing on past the size limit beats losing records; the next batch tries to rotate again.
            _logger.RotationFailed(_path, e.Message);
        }
    }

    /// <summary>Writes what is queued (or, when the file cannot be written, counts it as dropped), then stops.</summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        _stopping.Set();
        try { await _pumped.Task.ConfigureAwait(false); }
        catch (Exception) { /* already logged by the writer */ }
        _woken.Dispose();
        _stopping.Dispose();
    }
}

/// <summary>A flow log that keeps nothing (no --flow-log given); decisions still reach the operational log.</summary>
public sealed class NullFlowLog : IFlowLog
{
    public void Write(FlowRecord record) { }
}

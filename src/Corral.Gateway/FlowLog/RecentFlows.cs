namespace Corral.Gateway.FlowLog;

/// <summary>
/// The last N decision records and the request records whose outcome is their own, kept in memory for the admin API and dashboard. Writing is one
/// interlocked increment and one reference store, so the flow path never waits on a reader.
/// </summary>
public sealed class RecentFlows : IFlowLog
{
    private readonly FlowRecord?[] _slots;
    private long _written;

    public RecentFlows(int capacity = 2048) => _slots = new FlowRecord?[Math.Max(16, capacity)];

    public int Capacity => _slots.Length;

    /// <summary>Records seen so far (including those the ring has since overwritten).</summary>
    public long Written => Interlocked.Read(ref _written);

    public void Write(FlowRecord record)
    {
        if (record.Event == FlowEvent.Close) return; // close records carry no verdict; the dashboard shows decisions
        // A request carried under its flow's own verdict adds nothing to count: one flow, one entry. A request with a
        // verdict or refusal of its own (a URL filter, payload inspection, fronting) is kept.
        if (record.Event == FlowEvent.Request && record.Refusal is null && record.Verdict is { LetsThrough: true } && record.Status is < 400) return;
        var n = Interlocked.Increment(ref _written);
        Volatile.Write(ref _slots[(n - 1) % _slots.Length], record);
    }

    /// <summary>Newest first, at most <paramref name="limit"/> records that match <paramref name="filter"/>.</summary>
    public IReadOnlyList<FlowRecord> Snapshot(int limit, Func<FlowRecord, bool>? filter = null)
    {
        var result = new List<FlowRecord>(Math.Min(limit, _slots.Length));
        var newest = Interlocked.Read(ref _written);
        for (var n = newest; n > 0 && n > newest - _slots.Length && result.Count < limit; n--)
        {
            var record = Volatile.Read(ref _slots[(n - 1) % _slots.Length]);
            if (record is not null && (filter is null || filter(record))) result.Add(record);
        }
        return result;
    }
}

/// <summary>Sends each record to two flow logs (the file writer and the in-memory ring).</summary>
internal sealed class TeeFlowLog(IFlowLog first, IFlowLog second) : IFlowLog
{
    public void Write(FlowRecord record)
    {
        first.Write(record);
        second.Write(record);
    }

    /// <summary>The file's health: the ring in memory always records.</summary>
    public FlowLogStatus Status => first.Status;
}

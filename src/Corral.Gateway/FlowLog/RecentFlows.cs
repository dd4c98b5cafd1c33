namespace Corral.Gateway.FlowLog;

/// <summary>
/// The last N decision and request records, kept in memory for the admin API and dashboard. Every request record is
/// kept (not only those with an outcome of their own) because a rule's impact is replay over these records, and replay
/// decides each request again: a kept-alive connection's later requests can fall to a URL filter or a per-request rule
/// that its decision did not. Writing is one interlocked increment and one reference store, so the flow path never
/// waits on a reader.
/// </summary>
public sealed class RecentFlows : IFlowLog
{
    private readonly FlowRecord?[] _slots;
    private long _stored;
    private long _outcomes;

    public RecentFlows(int capacity = 2048) => _slots = new FlowRecord?[Math.Max(16, capacity)];

    public int Capacity => _slots.Length;

    /// <summary>Records with an outcome of their own seen so far (including those the ring has since overwritten).</summary>
    public long Written => Interlocked.Read(ref _outcomes);

    /// <summary>
    /// A record the dashboard and <c>/api/flows</c> list: every decision, and a request whose verdict or refusal is its
    /// own (a URL filter, payload inspection, fronting). A request carried under its flow's verdict adds nothing to
    /// count there: one flow, one entry.
    /// </summary>
    public static bool HasOwnOutcome(FlowRecord record) =>
        record.Event != FlowEvent.Request || record.Refusal is not null || record.Verdict is not { LetsThrough: true } || record.Status is >= 400;

    public void Write(FlowRecord record)
    {
        if (record.Event == FlowEvent.Close) return; // close records carry no verdict
        if (HasOwnOutcome(record)) Interlocked.Increment(ref _outcomes);
        var n = Interlocked.Increment(ref _stored);
        Volatile.Write(ref _slots[(n - 1) % _slots.Length], record);
    }

    /// <summary>Newest first, at most <paramref name="limit"/> records that match <paramref name="filter"/>.</summary>
    public IReadOnlyList<FlowRecord> Snapshot(int limit, Func<FlowRecord, bool>? filter = null)
    {
        var result = new List<FlowRecord>(Math.Min(limit, _slots.Length));
        var newest = Interlocked.Read(ref _stored);
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

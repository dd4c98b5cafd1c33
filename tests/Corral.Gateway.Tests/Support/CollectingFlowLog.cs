using System.Collections.Concurrent;
using Corral.Gateway.FlowLog;

namespace Corral.Gateway.Tests.Support;

/// <summary>Keeps every flow record in memory, for tests that read records as the gateway wrote them.</summary>
public sealed class CollectingFlowLog : IFlowLog
{
    public ConcurrentQueue<FlowRecord> Records { get; } = new();
    public void Write(FlowRecord record) => Records.Enqueue(record);

    /// <summary>The DNS records so far, in order.</summary>
    public List<FlowRecord> Dns => Records.Where(r => r.Event == FlowEvent.Dns).ToList();
}

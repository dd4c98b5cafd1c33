using System.Collections;
using System.Diagnostics;
using Corral.Gateway.Observability;
using OpenTelemetry;
using OpenTelemetry.Trace;

namespace Corral.Gateway.Tests.Support;

/// <summary>
/// The OpenTelemetry SDK listening to the gateway's ActivitySource in this process, exporting to memory. Gateways of
/// other tests run in parallel in the same process, so spans are looked up by trace: the one whose flow span carries a
/// given <c>corral.flow.id</c>.
/// </summary>
internal sealed class SpanCollector : IDisposable
{
    private readonly Exported _exported = new();
    private readonly TracerProvider _provider;

    public SpanCollector() =>
        _provider = Sdk.CreateTracerProviderBuilder().AddSource(FlowTracing.SourceName).AddInMemoryExporter(_exported).Build();

    /// <summary>Waits (generously) for the flow span (or DNS query span) of <paramref name="flowId"/> and returns it with every span of its trace.</summary>
    public async Task<(Activity Flow, List<Activity> Trace)> TraceAsync(string flowId, Func<List<Activity>, bool>? complete = null, int seconds = 20)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            var all = _exported.Snapshot();
            var flow = all.FirstOrDefault(a => a.OperationName is "corral.flow" or "corral.dns.query" && (a.GetTagItem("corral.flow.id") as string) == flowId);
            if (flow is not null)
            {
                var trace = all.Where(a => a.TraceId == flow.TraceId).ToList();
                if (complete is null || complete(trace) || DateTime.UtcNow > deadline) return (flow, trace);
            }
            else Assert.True(DateTime.UtcNow < deadline, $"no flow span with corral.flow.id {flowId} among {all.Count} exported");
            await Task.Delay(50);
        }
    }

    public void Dispose() => _provider.Dispose();

    /// <summary>What the exporter adds to (from whichever thread ends a span), read by the test.</summary>
    private sealed class Exported : ICollection<Activity>
    {
        private readonly List<Activity> _items = [];
        public List<Activity> Snapshot() { lock (_items) return [.. _items]; }
        public void Add(Activity item) { lock (_items) _items.Add(item); }
        public void Clear() { lock (_items) _items.Clear(); }
        public bool Contains(Activity item) { lock (_items) return _items.Contains(item); }
        public void CopyTo(Activity[] array, int arrayIndex) { lock (_items) _items.CopyTo(array, arrayIndex); }
        public bool Remove(Activity item) { lock (_items) return _items.Remove(item); }
        public int Count { get { lock (_items) return _items.Count; } }
        public bool IsReadOnly => false;
        public IEnumerator<Activity> GetEnumerator() => Snapshot().GetEnumerator();
        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
    }
}

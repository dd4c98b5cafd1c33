using System.Diagnostics.Metrics;
using System.Net;
using Corral.Gateway.FlowLog;
using Corral.Testing;

namespace Corral.Gateway.Tests;

/// <summary>The flow-log writer: rotation by size, bounded queue, and no record lost without being counted.</summary>
public sealed class FlowLogTests
{
    /// <summary>Close record number <paramref name="i"/> (flow id f-i).</summary>
    internal static FlowRecord Record(int i) => new()
    {
        Event = FlowEvent.Close, Time = DateTimeOffset.UtcNow, FlowId = $"f-{i}", Listener = "explicit",
        Source = new IPEndPoint(IPAddress.Loopback, 40000), Destination = new IPEndPoint(IPAddress.Loopback, 443), Host = "a.example",
        BytesUp = i, BytesDown = i, DurationMs = 1,
    };

    /// <summary>A gap record: what the writer lost, written in the chain (docs/flow-log.md).</summary>
    internal static bool IsGap(string line) => line.Contains("\"event\":\"gap\"", StringComparison.Ordinal);

    /// <summary>The records the gap records among <paramref name="lines"/> say were dropped.</summary>
    internal static long GapTotal(IEnumerable<string> lines) =>
        lines.Where(IsGap).Sum(l => System.Text.Json.JsonDocument.Parse(l).RootElement.GetProperty("dropped").GetInt64());

    [Fact]
    public async Task Rotates_by_size_and_keeps_the_configured_number_of_files()
    {
        using var folder = new TempFolder();
        var path = folder.File("flows.jsonl");
        using var meter = new Meter("test.rotation");
        await using (var writer = new FlowLogWriter(path, maxBytes: 8192, maxFiles: 3, capacity: 100_000, meter, new CollectingLoggerProvider().CreateLogger("t")))
            for (var i = 0; i < 2000; i++) writer.Write(Record(i));

        Assert.True(File.Exists(path));
        Assert.True(File.Exists(path + ".1"));
        Assert.True(File.Exists(path + ".3"));
        Assert.False(File.Exists(path + ".4"));
        foreach (var f in Directory.GetFiles(folder.Path)) Assert.True(new FileInfo(f).Length <= 8192, $"{f} is larger than the limit");
        var lastLine = File.ReadLines(path).Last();
        Assert.Contains("\"flow\":\"f-1999\"", lastLine);
    }

    [Fact]
    public async Task A_full_queue_drops_records_but_counts_and_logs_every_drop()
    {
        using var folder = new TempFolder();
        var path = folder.File("flows.jsonl");
        using var meter = new Meter("test.drops");
        using var metered = new DropMeter(meter);
        var logs = new CollectingLoggerProvider();
        const int total = 200_000;
        long dropped;
        await using (var writer = new FlowLogWriter(path, long.MaxValue, 1, capacity: 16, meter, logs.CreateLogger("t")))
        {
            for (var i = 0; i < total; i++) writer.Write(Record(i));
            dropped = writer.Dropped;
        }
        var lines = File.ReadLines(path).ToList();
        var written = lines.Count(l => !IsGap(l));

        Assert.True(dropped > 0, "the tiny queue should have overflowed");
        Assert.Equal(total, written + dropped);          // never lost silently: written or counted
        Assert.Equal(dropped, GapTotal(lines));          // ... and counted in the log itself, as gap records
        Assert.Equal(dropped, metered.Total); // ... and the metric says so
        Assert.True(logs.Contains("record(s) dropped", Microsoft.Extensions.Logging.LogLevel.Error));
    }
}

/// <summary>Sums what a meter's <c>corral.gateway.flowlog.dropped</c> counter reports.</summary>
internal sealed class DropMeter : IDisposable
{
    private readonly MeterListener _listener = new();
    private long _total;

    public DropMeter(Meter meter)
    {
        _listener.InstrumentPublished = (i, l) => { if (i.Meter == meter && i.Name == "corral.gateway.flowlog.dropped") l.EnableMeasurementEvents(i); };
        _listener.SetMeasurementEventCallback<long>((_, v, _, _) => Interlocked.Add(ref _total, v));
        _listener.Start();
    }

    public long Total => Interlocked.Read(ref _total);

    public void Dispose() => _listener.Dispose();
}

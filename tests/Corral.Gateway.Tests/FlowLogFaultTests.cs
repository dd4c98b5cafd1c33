using System.Diagnostics.Metrics;
using System.Text;
using System.Text.Json;
using Corral.Gateway.FlowLog;
using Corral.Gateway.Tests.Support;
using Microsoft.Extensions.Logging;
using Corral.Testing;

namespace Corral.Gateway.Tests;

/// <summary>
/// The flow-log writer against the file system as it really misbehaves: other writers, truncation and rotation by
/// logrotate itself, a full disk (a tmpfs the test mounts), and a file a killed writer left in the middle of a line.
/// </summary>
public sealed class FlowLogFaultTests
{
    private static FlowRecord Record(int i) => FlowLogTests.Record(i);

    private static FlowLogWriter Writer(string path, Meter meter, CollectingLoggerProvider? logs = null, int capacity = 100_000) =>
        new(path, long.MaxValue, 1, capacity, meter, (logs ?? new CollectingLoggerProvider()).CreateLogger("flowlog"));

    /// <summary>Every line of the file, each checked to be one whole JSON record.</summary>
    private static List<string> WholeLines(string path)
    {
        var bytes = File.ReadAllBytes(path);
        Assert.DoesNotContain((byte)0, bytes);
        var text = Encoding.UTF8.GetString(bytes);
        Assert.True(text.Length == 0 || text.EndsWith('\n'), $"{path} ends in a partial line: ...{text[^Math.Min(80, text.Length)..]}");
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
        foreach (var line in lines) JsonDocument.Parse(line).Dispose(); // throws on a torn or interleaved line
        return lines;
    }

    private static async Task UntilAsync(Func<bool> condition, string what, int seconds = 20)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"timed out waiting for {what}");
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task Two_writers_on_one_file_never_tear_each_others_lines()
    {
        using var folder = new TempFolder();
        var path = folder.File("flows.jsonl");
        using var meter = new Meter("test.two-writers");
        await using (var a = Writer(path, meter))
        await using (var b = Writer(path, meter))
        {
            await Task.WhenAll(
                Task.Run(() => { for (var i = 0; i < 5000; i++) a.Write(Record(i)); }),
                Task.Run(() => { for (var i = 5000; i < 10_000; i++) b.Write(Record(i)); }));
        }
        var lines = WholeLines(path);
        Assert.Equal(10_000, lines.Count);
    }

    [Fact]
    public async Task After_truncate_to_zero_the_next_records_start_the_file_with_no_run_of_nul_bytes()
    {
        Assert.SkipUnless(ProcessRunner.IsInstalled("truncate"), "truncate(1) is not installed");
        using var folder = new TempFolder();
        var path = folder.File("flows.jsonl");
        using var meter = new Meter("test.truncate");
        await using (var writer = Writer(path, meter))
        {
            for (var i = 0; i < 200; i++) writer.Write(Record(i));
            await UntilAsync(() => writer.Status.Written == 200, "the first records to be written");
            Assert.Equal(0, (await ProcessRunner.RunAsync("truncate", "-s", "0", path)).ExitCode); // what logrotate's copytruncate does
            for (var i = 200; i < 250; i++) writer.Write(Record(i));
        }
        var lines = WholeLines(path);
        Assert.Equal(50, lines.Count);
        Assert.Contains("\"flow\":\"f-200\"", lines[0]);
    }

    [Theory]
    [InlineData("copytruncate")]
    [InlineData("create 0640")]
    public async Task Logrotate_rotates_the_live_log_without_losing_or_tearing_a_record(string mode)
    {
        var logrotate = new[] { "/usr/sbin/logrotate", "/sbin/logrotate", "/usr/bin/logrotate" }.FirstOrDefault(File.Exists);
        Assert.SkipWhen(logrotate is null, "logrotate is not installed (scripts/install-test-deps.sh installs it)");
        using var folder = new TempFolder();
        var path = folder.File("flows.jsonl");
        var config = folder.File("corral.logrotate");
        File.WriteAllText(config, $"{path} {{\n  rotate 5\n  missingok\n  nocompress\n  {mode}\n}}\n");
        using var meter = new Meter("test.logrotate");
        await using (var writer = Writer(path, meter))
        {
            for (var i = 0; i < 300; i++) writer.Write(Record(i));
            await UntilAsync(() => writer.Status.Written == 300, "the first records to be written");
            var run = await ProcessRunner.RunAsync(logrotate!, "-f", "-s", folder.File("state"), config);
            Assert.True(run.ExitCode == 0, run.Stderr);
            for (var i = 300; i < 600; i++) writer.Write(Record(i));
        }
        var before = WholeLines(path + ".1");
        var after = WholeLines(path);
        Assert.Equal(300, before.Count);
        Assert.Equal(300, after.Count);
        Assert.Contains("\"flow\":\"f-0\"", before[0]);
        Assert.Contains("\"flow\":\"f-300\"", after[0]);
    }

    [Fact]
    public async Task A_full_disk_holds_records_retries_and_recovers_with_no_torn_line_and_every_loss_counted()
    {
        await using var disk = await Tmpfs.MountAsync(1024);
        var path = Path.Combine(disk.Path, "flows.jsonl");
        using var meter = new Meter("test.full-disk");
        using var metered = new DropMeter(meter);
        var logs = new CollectingLoggerProvider();
        var submitted = 0;
        FlowLogStatus final;
        await using (var writer = Writer(path, meter, logs, capacity: 2000))
        {
            for (; submitted < 100; submitted++) writer.Write(Record(submitted));
            await UntilAsync(() => writer.Status.Written == 100, "the records written before the disk fills");
            var filler = disk.Fill();
            // Leave less room than one batch: the writer's next write goes in part and must be cut back.
            using (var shrink = new FileStream(filler, FileMode.Open, FileAccess.Write)) shrink.SetLength(Math.Max(0, shrink.Length - 8192));
            for (; submitted < 20_000; submitted++) writer.Write(Record(submitted));
            await UntilAsync(() => !writer.Status.Recording, "the writer to report that it cannot write");
            Assert.Contains("No space left", writer.Status.Problem);
            Assert.True(writer.Dropped > 0, "a queue of 2000 cannot hold 19,900 records");
            WholeLines(path); // while failing: no torn line on disk

            File.Delete(filler);
            await UntilAsync(() => writer.Status.Recording, "the writer to recover once there is room");
            // Recovering is the first batch written again; the queue may still be full. Records written after it has
            // drained must all reach the file.
            await UntilAsync(() => writer.Status.Written + writer.Dropped == submitted, "the held records to be written");
            for (var i = 0; i < 100; i++, submitted++) writer.Write(Record(submitted));
            final = writer.Status;
        }
        var lines = WholeLines(path);
        Assert.Contains(lines, l => l.Contains($"\"flow\":\"f-{submitted - 1}\"")); // written after recovery
        // Every record is either on disk or counted, and the metric counts the same drops.
        var dropped = metered.Total;
        Assert.Equal(submitted, lines.Count(l => !FlowLogTests.IsGap(l)) + dropped);
        Assert.Equal(dropped, FlowLogTests.GapTotal(lines)); // and the log itself says where records were lost
        Assert.True(logs.Contains("cannot be written", LogLevel.Critical));
        Assert.True(logs.Contains("is written again", LogLevel.Warning));
        Assert.True(final.Recording);
    }

    [Fact]
    public async Task A_file_left_in_the_middle_of_a_line_is_ended_before_the_next_record()
    {
        using var folder = new TempFolder();
        var path = folder.File("flows.jsonl");
        File.WriteAllText(path, "{\"time\":\"2026-01-01T00:00:00Z\",\"event\":\"close\"}\n{\"time\":\"2026-01-01T00:00:01Z\",\"ev");
        using var meter = new Meter("test.torn");
        var logs = new CollectingLoggerProvider();
        await using (var writer = Writer(path, meter, logs)) writer.Write(Record(1));
        var lines = File.ReadAllLines(path);
        Assert.Equal(4, lines.Length);
        Assert.Equal("{\"time\":\"2026-01-01T00:00:01Z\",\"ev", lines[1]); // the fragment is kept, on a line of its own
        Assert.Contains("\"event\":\"gap\",\"reason\":\"torn-write\"", lines[2]); // the lost write is recorded in the chain
        JsonDocument.Parse(lines[3]).Dispose();
        Assert.True(logs.Contains("partial line", LogLevel.Warning));
    }
}

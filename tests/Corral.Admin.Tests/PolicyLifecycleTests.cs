using System.Diagnostics.Metrics;
using System.Text;
using Corral.Admin.Tests.Support;
using Corral.Gateway.Decision;
using Corral.Gateway.Reload;
using Corral.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Corral.Admin.Tests;

/// <summary>Each part of the policy lifecycle on its own, on real files: the source, the persister, the applier and its listeners.</summary>
public sealed class PolicyLifecycleTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("corral-lifecycle-test-").FullName;
    private readonly string _policyPath;

    public PolicyLifecycleTests()
    {
        Directory.CreateDirectory(Path.Combine(_folder, "feeds"));
        File.WriteAllText(Path.Combine(_folder, "feeds", "bad.txt"), "evil.test\n");
        _policyPath = Path.Combine(_folder, "corral.yaml");
        File.WriteAllText(_policyPath, LiveHarness.PolicyText);
    }

    private PolicyFileSource Source() => new(_policyPath, GatewayHarness.StandIns, NullLogger.Instance);

    private static string Enforced(string text) => text.Replace("action: deny, mode: watch", "action: deny, mode: enforce");

    [Fact]
    public async Task TheSourceReadsTheFileByteForByteAndChecksCandidatesAgainstItsDirectory()
    {
        await using var source = Source();
        File.WriteAllBytes(_policyPath, [0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes(LiveHarness.PolicyText)]);
        Assert.True(source.TryRead(out var bytes, out var text, out var error), error);
        Assert.Equal(File.ReadAllBytes(_policyPath), bytes); // the BOM included: the hash covers the bytes as they are
        Assert.Equal(Encoding.UTF8.GetString(bytes), text);

        var fromFile = source.CheckFile();
        Assert.True(fromFile.Succeeded);
        Assert.Contains(Path.Combine(_folder, "feeds", "bad.txt"), fromFile.Compiled!.Document.InputFiles); // the feed resolved next to the policy
        var fromText = source.CheckText(Enforced(LiveHarness.PolicyText));
        Assert.True(fromText.Succeeded);
        Assert.NotEqual(fromFile.Compiled.Hash, fromText.Compiled!.Hash);
    }

    [Fact]
    public async Task TheSourceRefusesTextOverTheBoundAndAFifoInPlaceOfThePolicy()
    {
        await using var source = Source();
        var tooLarge = source.CheckText(new string('#', PolicyFileSource.MaxPolicyBytes + 1));
        Assert.False(tooLarge.Succeeded);
        Assert.Contains(tooLarge.Diagnostics, d => d.Code == "file-too-large");

        File.Delete(_policyPath);
        using (var made = System.Diagnostics.Process.Start("mkfifo", _policyPath)) { await made.WaitForExitAsync(); Assert.Equal(0, made.ExitCode); }
        Assert.False(source.TryRead(out _, out _, out var error)); // returns at once: a FIFO is never opened for reading
        Assert.Contains("regular file", error);
    }

    [Fact]
    public async Task TheSourceWatchesThePolicysInputsAndTheFilesACandidateAdds()
    {
        await using var source = Source();
        var inForce = source.CheckFile().Compiled!;
        var seen = new System.Collections.Concurrent.ConcurrentQueue<IReadOnlySet<string>?>();
        Task<ReloadOutcome> Changed(bool quiet, IReadOnlySet<string>? files, CancellationToken ct)
        {
            seen.Enqueue(files);
            return Task.FromResult(new ReloadOutcome(true, false, inForce.Hash, [], null));
        }
        Assert.True(source.StartWatching(inForce, Changed, TimeSpan.FromMilliseconds(2)));
        Assert.False(source.StartWatching(inForce, Changed, TimeSpan.FromMilliseconds(2))); // one watch per source

        var feed = Path.Combine(_folder, "feeds", "bad.txt");
        File.AppendAllText(feed, "worse.test\n");
        await LiveHarness.EventuallyAsync(() => Task.FromResult(seen.Any(s => s is null || s.Contains(feed))), "the feed's change to be reported");

        // A candidate that reads a new feed in another folder: watched once asked, before it would be in force.
        Directory.CreateDirectory(Path.Combine(_folder, "more"));
        var added = Path.Combine(_folder, "more", "extra.txt");
        File.WriteAllText(added, "extra.test\n");
        var candidate = source.CheckText(LiveHarness.PolicyText.Replace("feeds: [feeds/bad.txt]", "feeds: [feeds/bad.txt, more/extra.txt]")).Compiled!;
        source.WatchFilesOf(candidate);
        File.AppendAllText(added, "again.test\n");
        await LiveHarness.EventuallyAsync(() => Task.FromResult(seen.Any(s => s is null || s.Contains(added))), "the added feed's change to be reported");

        await source.StopWatchingAsync();
        var count = seen.Count;
        File.AppendAllText(feed, "after.test\n");
        await Task.Delay(300);
        Assert.Equal(count, seen.Count); // stopped: nothing more is reported
    }

    [Fact]
    public void ThePersisterWritesBackKeepingTheFilesModeAndReportsDriftForAReadOnlyFile()
    {
        var persister = new PolicyPersister(_policyPath, "hash-0");
        File.SetUnixFileMode(_policyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
        var edited = Enforced(LiveHarness.PolicyText);

        Assert.Null(persister.Write(edited, "hash-1"));
        Assert.Equal(edited, File.ReadAllText(_policyPath));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead, File.GetUnixFileMode(_policyPath));
        Assert.Equal("hash-1", persister.FileHash);
        Assert.Null(persister.DriftText);
        Assert.Empty(Directory.GetFiles(_folder, "*.tmp")); // the temp file was renamed into place

        File.SetUnixFileMode(_policyPath, UnixFileMode.UserRead); // read-only: the operator's intent, honoured even as root
        var drift = persister.Write(LiveHarness.PolicyText, "hash-2");
        Assert.Contains("read-only", drift);
        Assert.Equal(edited, File.ReadAllText(_policyPath)); // left alone
        Assert.Equal(LiveHarness.PolicyText, persister.DriftText); // what the next edit starts from
        Assert.Equal("hash-1", persister.FileHash); // the file still holds hash-1

        persister.FileRead("hash-3"); // the file changed and was put in force: it is the truth again
        Assert.Null(persister.DriftText);
        Assert.Equal("hash-3", persister.FileHash);
    }

    [Fact]
    public async Task TheApplierSwapsReportsRefusesAndRollsBackAndEveryListenerHearsOfIt()
    {
        await using var source = Source();
        var initial = source.CheckFile().Compiled!;
        var target = new PolicySource(initial);
        var swaps = new List<string>();
        target.Swapped += p => swaps.Add(p.Hash);
        var heard = new RecordingListener();
        var applier = new PolicyApplier(target, [new ThrowingListener(), heard], NullLogger.Instance);
        var events = new List<ReloadStatus>();
        applier.StatusChanged += events.Add;
        Assert.Equal((initial.Hash, ReloadSource.Startup, 0L), (applier.Status.Hash, applier.Status.Source, applier.Status.Reloads));

        // Refused: the policy in force stays, the failure is reported (a throwing listener does not stop the others).
        var broken = source.CheckText("version: 1\nrules: [");
        var refused = applier.Refuse(ReloadSource.Api, broken.Diagnostics);
        Assert.False(refused.Applied);
        Assert.Same(initial, target.Current);
        Assert.True(applier.Status.Failing);
        Assert.Equal(1, applier.Status.Failures);
        Assert.Equal(["refused api"], heard.Told);
        // A quiet refusal (a file caught half-written) tells no one.
        applier.Refuse(ReloadSource.File, broken.Diagnostics, report: false);
        Assert.Equal(1, applier.Status.Failures);

        var next = source.CheckText(Enforced(LiveHarness.PolicyText)).Compiled!;
        Assert.True(applier.SwapIn(next));
        var outcome = applier.Applied(next, ReloadSource.Api, changed: true, drift: null, []);
        Assert.True(outcome is { Applied: true, Changed: true });
        Assert.Same(next, target.Current);
        Assert.Equal((next.Hash, ReloadSource.Api, 1L, false), (applier.Status.Hash, applier.Status.Source, applier.Status.Reloads, applier.Status.Failing));
        Assert.Equal(["refused api", "applied api changed"], heard.Told);
        Assert.Equal(2, events.Count);
        Assert.False(applier.SwapIn(next)); // in force and reported: nothing to swap

        // Put ahead of its confirming compile, then rolled back.
        Assert.False(applier.PutAhead(next)); // the policy in force: nothing to do
        Assert.True(applier.PutAhead(initial));
        Assert.Same(initial, target.Current);
        applier.RollBack(next);
        Assert.Same(next, target.Current);
        Assert.Equal([next.Hash, initial.Hash, next.Hash], swaps);
        Assert.Equal(next.Hash, applier.Status.Hash); // the status only follows confirmed changes
    }

    [Fact]
    public void ReloadMetricsCountChangesAndRefusalsBySource()
    {
        using var meter = new Meter("corral-lifecycle-test-" + Guid.NewGuid());
        var counted = new List<(string Name, long Value, object? Source)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) => { if (instrument.Meter == meter) l.EnableMeasurementEvents(instrument); };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => counted.Add((instrument.Name, value, tags.ToArray().Single(t => t.Key == "source").Value)));
        listener.Start();
        var metrics = new ReloadMetrics(meter);
        var status = new ReloadStatus("h", "n", DateTimeOffset.UtcNow, ReloadSource.File, 1, 0, false, null, null, 1, 0);

        metrics.Applied(status, ReloadSource.Promotion, changed: true);
        metrics.Applied(status, ReloadSource.File, changed: false); // already in force: not a reload
        metrics.Refused(status, new ReloadFailure(DateTimeOffset.UtcNow, ReloadSource.File, []));

        Assert.Equal([("corral.gateway.policy.reloads", 1L, (object?)"promotion"), ("corral.gateway.policy.reload_failures", 1L, "file")], counted);
    }

    [Fact]
    public void ReloadLogSaysWhatIsInForceWhatWasRefusedAndTheDrift()
    {
        var lines = new List<(LogLevel Level, string Message)>();
        var log = new ReloadLog(new ListLogger(lines));
        var status = new ReloadStatus("abc", "live-test", DateTimeOffset.UtcNow, ReloadSource.Api, 1, 0, false, null, "corral.yaml is read-only", 3, 1);

        log.Applied(status, ReloadSource.Api, changed: true);
        log.Refused(status, new ReloadFailure(DateTimeOffset.UtcNow, ReloadSource.File, []));

        Assert.Equal([
            (LogLevel.Information, "Policy live-test (abc) in force, from api"),
            (LogLevel.Warning, "Policy drift: corral.yaml is read-only"),
            (LogLevel.Error, "Policy reload from file failed; abc stays in force: reload failed"),
        ], lines);
    }

    [Fact]
    public void ReloadLogSaysWhenAFailureClearsEvenWhenTheFixPutBackTheTextInForce()
    {
        var lines = new List<(LogLevel Level, string Message)>();
        var ids = new List<int>();
        var log = new ReloadLog(new ListLogger(lines, ids));
        var status = new ReloadStatus("abc", "live-test", DateTimeOffset.UtcNow, ReloadSource.File, 1, 2, false, null, null, 3, 1);
        var failure = new ReloadFailure(DateTimeOffset.UtcNow, ReloadSource.File, []);

        log.Applied(status, ReloadSource.File, changed: true);          // a healthy reload: nothing cleared
        log.Refused(status with { Failing = true }, failure);
        log.Refused(status with { Failing = true }, failure);
        log.Applied(status, ReloadSource.File, changed: false);         // fixed back to the policy in force
        log.Refused(status with { Failing = true }, failure);
        log.Applied(status with { Hash = "def" }, ReloadSource.File, changed: true);
        log.Applied(status with { Hash = "def" }, ReloadSource.File, changed: false);

        Assert.Equal([
            (LogLevel.Information, "Policy live-test (abc) in force, from file"),
            (LogLevel.Error, "Policy reload from file failed; abc stays in force: reload failed"),
            (LogLevel.Error, "Policy reload from file failed; abc stays in force: reload failed"),
            (LogLevel.Information, "Policy reload failure cleared after 2 failed attempt(s): live-test (abc) in force, from file"),
            (LogLevel.Error, "Policy reload from file failed; abc stays in force: reload failed"),
            (LogLevel.Information, "Policy live-test (def) in force, from file"),
            (LogLevel.Information, "Policy reload failure cleared after 1 failed attempt(s): live-test (def) in force, from file"),
        ], lines);
        Assert.Equal([1301, 1300, 1300, 1310, 1300, 1301, 1310], ids);
    }

    private sealed class RecordingListener : IPolicyChangeListener
    {
        public List<string> Told { get; } = [];
        public void Applied(ReloadStatus status, ReloadSource source, bool changed) => Told.Add($"applied {source.Label()}{(changed ? " changed" : "")}");
        public void Refused(ReloadStatus status, ReloadFailure failure) => Told.Add($"refused {failure.Source.Label()}");
    }

    private sealed class ThrowingListener : IPolicyChangeListener
    {
        public void Applied(ReloadStatus status, ReloadSource source, bool changed) => throw new InvalidOperationException("listener bug");
        public void Refused(ReloadStatus status, ReloadFailure failure) => throw new InvalidOperationException("listener bug");
    }

    private sealed class ListLogger(List<(LogLevel, string)> lines, List<int>? eventIds = null) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lines.Add((logLevel, formatter(state, exception)));
            eventIds?.Add(eventId.Id);
        }
    }

    public void Dispose()
    {
        try
        {
            if (File.Exists(_policyPath)) File.SetUnixFileMode(_policyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException) { }
    }
}

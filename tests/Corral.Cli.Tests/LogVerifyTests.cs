using System.Diagnostics.Metrics;
using System.IO.Compression;
using System.Net;
using System.Net.Sockets;
using Corral.Audit;
using Corral.Gateway.FlowLog;
using Corral.Testing;

namespace Corral.Cli.Tests;

/// <summary>
/// <c>corral log verify</c> on real rotated flow logs written by the gateway's writer (and, for a crash, by the gateway
/// process killed with SIGKILL): each kind of tampering is named at its line, and a crash is told apart from it.
/// </summary>
public sealed class LogVerifyTests
{
    private const int Records = 600;

    /// <summary>A signing key pair in <paramref name="folder"/>, made by <c>corral log keygen</c>.</summary>
    private static (string Key, string Public) KeyGen(TempFolder folder, string name = "key")
    {
        var run = CorralInProcess.Run("log", "keygen", "--out", folder.File(name));
        Assert.True(run.ExitCode == 0, run.Stderr);
        return (folder.File($"{name}/{CheckpointSigner.KeyFileName}"), folder.File($"{name}/{CheckpointSigner.PublicKeyFileName}"));
    }

    private static FlowRecord Record(int i) => new()
    {
        Event = i % 2 == 0 ? FlowEvent.Decision : FlowEvent.Close, Time = DateTimeOffset.UtcNow, FlowId = $"f-{i}", Listener = "explicit",
        Source = new IPEndPoint(IPAddress.Parse("10.20.1.5"), 40000 + i % 20000), Destination = new IPEndPoint(IPAddress.Parse("20.1.2.3"), 443), Host = $"h{i}.example",
        Verdict = i % 2 == 0 ? new Corral.Policy.Compilation.Verdict(Corral.Policy.Model.RuleAction.Deny, null, true, false, Corral.Policy.Compilation.DecisionReason.DefaultAction, 0, false, null) : null,
        BytesUp = i, BytesDown = i, DurationMs = 1,
    };

    /// <summary>Writes <see cref="Records"/> records through the gateway's flow-log writer, rotating at 16 KiB into FILE.1 … FILE.5.</summary>
    private static async Task<string> WriteLogAsync(TempFolder folder, string keyPath, int capacity = 100_000, int total = Records)
    {
        var path = folder.File("flows.jsonl");
        using var meter = new Meter("test.verify");
        await using (var writer = new FlowLogWriter(path, 16 * 1024, 5, capacity, meter, new CollectingLoggerProvider().CreateLogger("t"),
                         CheckpointSigner.Load(keyPath), checkpointEvery: 25))
            for (var i = 0; i < total; i++) writer.Write(Record(i));
        Assert.True(File.Exists(path + ".3"), "the log should have rotated at least three times");
        return path;
    }

    private static ProcessResult Verify(string publicKey, params string[] files) => CorralInProcess.Run(["log", "verify", "--key", publicKey, .. files]);

    /// <summary>The 1-based number of a line in <paramref name="file"/> that is a record (not a checkpoint), past the first few.</summary>
    private static int RecordLine(string file, int after = 5) =>
        File.ReadAllLines(file).Select((l, i) => (l, i)).First(x => x.i >= after && x.l.Contains("\"flow\":", StringComparison.Ordinal)).i + 1;

    private static void EditLines(string file, Func<List<string>, List<string>> edit) =>
        File.WriteAllLines(file, edit(File.ReadAllLines(file).ToList()));

    [Fact]
    public async Task A_log_written_and_rotated_by_the_gateway_verifies_whole_across_plain_and_gzipped_files()
    {
        using var folder = new TempFolder();
        var (key, pub) = KeyGen(folder);
        var path = await WriteLogAsync(folder, key);
        Gzip(path + ".2");
        Gzip(path + ".3");

        var run = Verify(pub, path);
        Assert.True(run.ExitCode == 0, run.Stdout + run.Stderr);
        Assert.Contains("whole and untampered", run.Stdout);
        // Every record is in the chain: the records counted plus the checkpoints, with nothing dropped.
        Assert.Contains("0 record(s) dropped", run.Stdout);
        // The shell's order does not matter: the chain orders the files.
        Assert.Equal(0, Verify(pub, path, path + ".1", path + ".3.gz", path + ".2.gz").ExitCode);
    }

    [Fact]
    public async Task An_edited_record_is_named_at_its_line()
    {
        using var folder = new TempFolder();
        var (key, pub) = KeyGen(folder);
        var path = await WriteLogAsync(folder, key);
        var line = RecordLine(path + ".2");
        EditLines(path + ".2", lines => { lines[line - 1] = lines[line - 1].Replace("\"host\":\"h", "\"host\":\"x", StringComparison.Ordinal); return lines; });

        var run = Verify(pub, path);
        Assert.Equal(1, run.ExitCode);
        Assert.Contains($"flows.jsonl.2:{line}: edited:", run.Stdout);
        Assert.Contains("TAMPERED", run.Stdout);
    }

    [Fact]
    public async Task A_removed_record_is_named_with_the_numbers_missing()
    {
        using var folder = new TempFolder();
        var (key, pub) = KeyGen(folder);
        var path = await WriteLogAsync(folder, key);
        var line = RecordLine(path + ".2");
        EditLines(path + ".2", lines => { lines.RemoveAt(line - 1); return lines; });

        var run = Verify(pub, path);
        Assert.Equal(1, run.ExitCode);
        Assert.Contains($"flows.jsonl.2:{line}: removed: 1 record(s) removed", run.Stdout); // the line that now follows the hole
        Assert.DoesNotContain("edited", run.Stdout);
    }

    [Fact]
    public async Task Two_swapped_records_are_named_as_reordered()
    {
        using var folder = new TempFolder();
        var (key, pub) = KeyGen(folder);
        var path = await WriteLogAsync(folder, key);
        var line = RecordLine(path + ".1");
        EditLines(path + ".1", lines => { (lines[line - 1], lines[line]) = (lines[line], lines[line - 1]); return lines; });

        var run = Verify(pub, path);
        Assert.Equal(1, run.ExitCode);
        Assert.Contains($"flows.jsonl.1:{line + 1}: reordered:", run.Stdout);
        Assert.DoesNotContain("removed", run.Stdout);
    }

    [Fact]
    public async Task An_inserted_record_is_named_even_when_it_links_to_the_record_before_it()
    {
        using var folder = new TempFolder();
        var (key, pub) = KeyGen(folder);
        var path = await WriteLogAsync(folder, key);
        var line = RecordLine(path + ".1");
        var lines = File.ReadAllLines(path + ".1").ToList();
        // A forger who knows the format: the inserted record carries the next number and the previous line's hash.
        var before = lines[line - 2];
        var original = lines[line - 1];
        var seq = System.Text.Json.JsonDocument.Parse(original).RootElement.GetProperty("seq").GetInt64();
        var forged = original.Replace($"\"seq\":{seq}", $"\"seq\":{seq}", StringComparison.Ordinal)
            .Replace("\"host\":\"h", "\"host\":\"forged-h", StringComparison.Ordinal);
        forged = System.Text.RegularExpressions.Regex.Replace(forged, "\"prev\":\"[0-9a-f]{64}\"", $"\"prev\":\"{FlowChain.Hash(System.Text.Encoding.UTF8.GetBytes(before))}\"");
        lines.Insert(line - 1, forged);
        File.WriteAllLines(path + ".1", lines);

        var run = Verify(pub, path);
        Assert.Equal(1, run.ExitCode);
        Assert.Contains($"flows.jsonl.1:{line}: inserted:", run.Stdout);
        Assert.DoesNotContain("edited", run.Stdout);
    }

    [Fact]
    public async Task A_missing_middle_file_is_named_as_such()
    {
        using var folder = new TempFolder();
        var (key, pub) = KeyGen(folder);
        var path = await WriteLogAsync(folder, key);
        File.Delete(path + ".2");

        var run = Verify(pub, path);
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("flows.jsonl.1:1: missing-file: a file is missing before this one", run.Stdout);
        Assert.DoesNotContain("removed", run.Stdout);
    }

    [Fact]
    public async Task A_checkpoint_signed_by_another_key_or_changed_after_signing_is_named()
    {
        using var folder = new TempFolder();
        var (key, pub) = KeyGen(folder);
        var (_, otherPub) = KeyGen(folder, "other");
        var path = await WriteLogAsync(folder, key);

        var wrong = Verify(otherPub, path);
        Assert.Equal(1, wrong.ExitCode);
        Assert.Contains(": wrong-key: checkpoint signed by key", wrong.Stdout);

        // Changing a signed field of a checkpoint (its time) leaves the chain after it intact but the signature not.
        var lines = File.ReadAllLines(path + ".1").ToList();
        var at = lines.FindIndex(l => l.Contains("\"event\":\"checkpoint\"", StringComparison.Ordinal));
        var text = lines[at];
        var time = System.Text.Json.JsonDocument.Parse(text).RootElement.GetProperty("time").GetString()!;
        lines[at] = text.Replace(time, "2020-01-01T00:00:00.0000000Z", StringComparison.Ordinal);
        File.WriteAllLines(path + ".1", lines);
        var run = Verify(pub, path);
        Assert.Equal(1, run.ExitCode);
        Assert.Contains($"flows.jsonl.1:{at + 1}: bad-signature:", run.Stdout);
    }

    [Fact]
    public async Task A_torn_tail_without_a_shutdown_checkpoint_is_a_crash_not_tampering()
    {
        using var folder = new TempFolder();
        var (key, pub) = KeyGen(folder);
        var path = await WriteLogAsync(folder, key);
        // What a crash leaves: the last records after a checkpoint, no shutdown checkpoint, the last write cut short.
        var lines = File.ReadAllLines(path).ToList();
        lines.RemoveAt(lines.Count - 1); // the shutdown checkpoint
        var torn = lines[^1][..(lines[^1].Length / 2)];
        lines.RemoveAt(lines.Count - 1);
        File.WriteAllText(path, string.Join('\n', lines) + "\n" + torn);

        var run = Verify(pub, path);
        Assert.True(run.ExitCode == 3, run.Stdout);
        Assert.Contains(": torn-write: the last write was cut short", run.Stdout);
        Assert.Contains(": unsigned-tail:", run.Stdout);
        Assert.DoesNotContain("TAMPERED", run.Stdout);
    }

    [Fact]
    public async Task Records_a_full_queue_dropped_appear_as_gap_records_and_the_chain_stays_whole()
    {
        using var folder = new TempFolder();
        var (key, pub) = KeyGen(folder);
        var path = folder.File("flows.jsonl");
        using var meter = new Meter("test.gaps");
        long dropped;
        await using (var writer = new FlowLogWriter(path, long.MaxValue, 1, 16, meter, new CollectingLoggerProvider().CreateLogger("t"), CheckpointSigner.Load(key)))
        {
            for (var i = 0; i < 100_000; i++) writer.Write(Record(i));
            dropped = writer.Dropped;
        }
        Assert.True(dropped > 0, "a queue of 16 should have overflowed");
        var gaps = File.ReadLines(path).Where(l => l.Contains("\"event\":\"gap\"", StringComparison.Ordinal))
            .Sum(l => System.Text.Json.JsonDocument.Parse(l).RootElement.GetProperty("dropped").GetInt64());
        Assert.Equal(dropped, gaps); // every drop is in the chain, not only in a metric

        var run = Verify(pub, path);
        Assert.True(run.ExitCode == 0, run.Stdout);
        Assert.Contains($"{dropped} record(s) dropped by the gateway", run.Stdout);
        Assert.Contains(": gap: the gateway dropped", run.Stdout);
    }

    [Fact]
    public async Task After_sigkill_verify_reports_an_unsigned_tail_not_tampering_and_a_restart_signs_it_and_says_so()
    {
        using var keys = new TempFolder();
        var (key, pub) = KeyGen(keys);
        var port = ChildProcess.FreePort();
        var folder = GatewayProcess.NewFolder("");
        string[] args = ["--listen", $"127.0.0.1:{port}", "--flow-log", "flows.jsonl", "--flow-log-max-bytes", "16384", "--flow-log-signing-key", key, "--flow-log-checkpoint-every", "7"];
        try
        {
            await using (var gateway = GatewayProcess.Start(folder, args, ownsFolder: false))
            {
                await gateway.WaitForPortAsync(port);
                using var stop = new CancellationTokenSource();
                var load = Task.Run(async () =>
                {
                    while (!stop.IsCancellationRequested)
                        try { await DeniedConnectAsync(port); } catch (Exception e) when (e is IOException or SocketException) { return; }
                });
                var path = Path.Combine(folder, "flows.jsonl");
                for (var i = 0; i < 300 && !File.Exists(path + ".1"); i++) await Task.Delay(50);
                Assert.True(File.Exists(path + ".1"), "the gateway's log should have rotated under load");
                await gateway.SignalAsync("KILL"); // under load: records queued, and maybe a write under way
                await gateway.Process.WaitForExitAsync();
                stop.Cancel();
                await load;
            }
            var killed = CorralInProcess.Run("log", "verify", "--key", pub, Path.Combine(folder, "flows.jsonl"));
            Assert.True(killed.ExitCode is 0 or 3, killed.Stdout); // never "tampered"
            Assert.DoesNotContain("TAMPERED", killed.Stdout);
            if (killed.ExitCode == 3) Assert.Matches("unsigned-tail|no-shutdown", killed.Stdout);

            await using (var again = GatewayProcess.Start(folder, args, ownsFolder: false))
            {
                await again.WaitForPortAsync(port);
                Assert.Equal(403, (await DeniedConnectAsync(port)).Status);
                await again.SignalAsync("TERM");
                Assert.Equal(0, await again.WaitForExitAsync());
            }
            var restarted = CorralInProcess.Run("log", "verify", "--key", pub, Path.Combine(folder, "flows.jsonl"));
            Assert.True(restarted.ExitCode == 0, restarted.Stdout);
            Assert.Contains(": unclean-restart: the gateway restarted without having shut down", restarted.Stdout);
            Assert.Contains("whole and untampered", restarted.Stdout);
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    [Fact]
    public void The_signing_key_is_made_owner_only_kept_from_being_overwritten_and_refused_when_others_can_read_it()
    {
        using var folder = new TempFolder();
        var (key, pub) = KeyGen(folder);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(key));
        var again = CorralInProcess.Run("log", "keygen", "--out", folder.File("key"));
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("refusing to overwrite", again.Stderr);

        var policy = folder.File("p.yaml");
        Assert.Equal(0, CorralInProcess.Run("init", "--template", "azure-foundry", "--enforce", "-o", policy, "--agent-subnet", "127.0.0.0/8").ExitCode);
        File.SetUnixFileMode(key, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var gateway = CorralInProcess.Run("gateway", policy, "--flow-log", folder.File("flows.jsonl"), "--flow-log-signing-key", key);
        Assert.Equal(1, gateway.ExitCode);
        Assert.Contains("can be read by others", gateway.Stderr);

        // Verifying needs the key to check against, or an explicit choice to check the chain only.
        var noKey = CorralInProcess.Run("log", "verify", folder.File("flows.jsonl"));
        Assert.Equal(2, noKey.ExitCode);
        Assert.Contains("--key", noKey.Stderr);
        File.WriteAllText(folder.File("empty.jsonl"), "");
        var empty = Verify(pub, folder.File("empty.jsonl"));
        Assert.Equal(1, empty.ExitCode); // nothing to prove is not "whole"
        Assert.Contains("not-chained", empty.Stdout);
    }

    private static async Task<(int Status, string Head, string Body)> DeniedConnectAsync(int port)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        var stream = client.GetStream();
        await stream.WriteAsync("CONNECT exfil.attacker.test:443 HTTP/1.1\r\n\r\n"u8.ToArray());
        return await RawHttp.ReadResponseAsync(stream);
    }

    private static void Gzip(string file)
    {
        using (var input = File.OpenRead(file))
        using (var output = new GZipStream(File.Create(file + ".gz"), CompressionLevel.Fastest))
            input.CopyTo(output);
        File.Delete(file);
    }
}

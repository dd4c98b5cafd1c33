using System.Buffers;
using System.CommandLine;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Corral.Audit;
using Corral.Audit.Ocsf;
using Corral.Replay;

namespace Corral.Cli.Commands;

/// <summary>
/// <c>corral log keygen|verify|export</c>: make the key that signs the flow log's checkpoints, check a flow log's hash
/// chain and signatures across its rotated (and gzipped) files, and export its records as OCSF events.
/// </summary>
internal static class LogCommand
{
    public const string DefaultKeyDirectory = "corral-flowlog-key";

    /// <summary>Exit code of <c>verify</c> when nothing was tampered with but not every record is signed (a crash, a live log).</summary>
    public const int Incomplete = 3;

    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var command = new Command("log", "Make the flow log's signing key, verify a flow log, export it as OCSF");
        command.Subcommands.Add(KeyGen(stdout, stderr));
        command.Subcommands.Add(Verify(stdout, stderr));
        command.Subcommands.Add(Export(stdout, stderr));
        return command;
    }

    private static Command KeyGen(TextWriter stdout, TextWriter stderr)
    {
        var output = new Option<string>("--out") { Description = $"Folder for {CheckpointSigner.KeyFileName} (mode 600) and {CheckpointSigner.PublicKeyFileName}", DefaultValueFactory = _ => DefaultKeyDirectory };
        var force = new Option<bool>("--force") { Description = "Replace an existing key in the folder" };
        var command = new Command("keygen", "Make the Ed25519 key pair that signs flow-log checkpoints") { output, force };
        command.SetAction(parse =>
        {
            try
            {
                var (key, publicKey) = CheckpointSigner.Create().Save(parse.GetValue(output)!, parse.GetValue(force));
                stdout.WriteLine($"wrote {key} (the private key, mode 600: keep it on the gateway only)");
                stdout.WriteLine($"wrote {publicKey} (the public key: give it to whoever verifies the log)");
                if (GitIgnoreCheck.IsExposed(key))
                    stderr.WriteLine($"corral log keygen: warning: {key} is in a git work tree that does not ignore it: add its folder to .gitignore so the private key is never committed");
                stdout.WriteLine($"next: {CommonOptions.InvokedAs} gateway --flow-log flows.jsonl --flow-log-signing-key {key}");
                stdout.WriteLine($"then: {CommonOptions.InvokedAs} log verify --key {publicKey} flows.jsonl");
                return CorralCommand.Ok;
            }
            catch (Exception e) when (e is SigningKeyException or IOException or UnauthorizedAccessException)
            {
                stderr.WriteLine($"corral log keygen: {e.Message}{(e is SigningKeyException ? " (use --force to replace it)" : "")}");
                return CorralCommand.InputError;
            }
        });
        return command;
    }

    private static Command Verify(TextWriter stdout, TextWriter stderr)
    {
        var files = new Argument<string[]>("files") { Description = "Flow-log files, in any order (FILE also brings every FILE.N and FILE.N.gz beside it); plain or gzip", Arity = ArgumentArity.OneOrMore };
        var key = new Option<string?>("--key") { Description = "The public key checkpoints must be signed with (corral-flowlog.pub)" };
        var chainOnly = new Option<bool>("--chain-only") { Description = "Check the hash chain without signatures (a log written without a signing key)" };
        var command = new Command("verify", $"""
            Check that flow-log files are whole and untampered with: the hash chain across rotated files, and each
            checkpoint's signature. Names each problem (FILE:LINE: edited, removed, reordered, inserted, missing-file,
            bad-signature, wrong-key, not-a-record), and tells a crash (a torn last write, unsigned records after the
            last checkpoint) apart from tampering. Exit 0 when whole and signed to a shutdown checkpoint, {Incomplete} when
            nothing was tampered with but the end is not signed (a live log, a crash), 1 on tampering or damage, 2 for usage.
            """) { files, key, chainOnly };
        command.SetAction(parse =>
        {
            if ((parse.GetValue(key) is null) == !parse.GetValue(chainOnly))
            {
                stderr.WriteLine("corral log verify: give --key PUBLIC-KEY (or --chain-only to check the chain without signatures)");
                return CorralCommand.UsageError;
            }
            CheckpointPublicKey? trusted = null;
            try
            {
                if (parse.GetValue(key) is { } keyPath) trusted = CheckpointPublicKey.Load(keyPath);
            }
            catch (SigningKeyException e)
            {
                stderr.WriteLine($"corral log verify: {e.Message}");
                return CorralCommand.InputError;
            }
            var paths = parse.GetValue(files)!;
            foreach (var path in paths.Where(p => !File.Exists(p)))
            {
                stderr.WriteLine($"corral log verify: {path}: no such file");
                return CorralCommand.InputError;
            }
            VerifyReport report;
            try
            {
                var ordered = InChainOrder(WithRotations(paths));
                report = new FlowLogVerifier(trusted).Verify(ordered.Select(f => (f, (Func<Stream>)(() => FlowLogFiles.Open(f)))));
            }
            catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
            {
                stderr.WriteLine($"corral log verify: {e.Message}");
                return CorralCommand.InputError;
            }
            foreach (var problem in report.Problems) stdout.WriteLine(problem);
            foreach (var note in report.Notes) stdout.WriteLine(note);
            var signed = trusted is null ? "signatures not checked" : $"{report.Checkpoints} checkpoint(s), signed by key {trusted.Id} to record {report.LastSignedSeq}";
            var verdict = !report.Intact ? $"TAMPERED OR DAMAGED: {report.Problems.Count} problem(s)"
                : report.Complete ? "whole and untampered" : "untampered so far, but not every record is signed (see the notes)";
            stdout.WriteLine($"{verdict}; records {report.FirstSeq}..{report.LastSeq}, {report.Lines} line(s), {signed}; {report.DroppedByGateway} record(s) dropped by the gateway (gap records)");
            return !report.Intact ? CorralCommand.InputError : report.Complete ? CorralCommand.Ok : Incomplete;
        });
        return command;
    }

    private static Command Export(TextWriter stdout, TextWriter stderr)
    {
        var files = new Argument<string[]>("files") { Description = "Flow-log files (FILE also brings its rotations FILE.N and FILE.N.gz, oldest first); plain or gzip", Arity = ArgumentArity.OneOrMore };
        var format = new Option<string>("--format") { Description = "The output format: ocsf (OCSF 1.5 events)", Required = true };
        format.AcceptOnlyFromAmong("ocsf");
        var output = new Option<string?>("--output", "-o") { Description = "Write the events to FILE instead of standard output" };
        var command = new Command("export", $"""
            Export flow-log records as OCSF {OcsfMapping.SchemaVersion} events, one JSON object a line: decision and close
            records as Network Activity (4001), request records as HTTP Activity (4002), DNS records as DNS Activity
            (4003); the rule, watch/enforce, the check that refused, the flow id and the chain fields are kept
            (docs/flow-log.md, "OCSF"). Lines that are OCSF already are passed on; checkpoint and gap lines are counted,
            not exported (check the log with 'corral log verify' first). A line that is not a record is reported as
            FILE:LINE and the exit code is 1; the rest is still exported. 'corral replay' reads the export back.
            """) { files, format, output };
        command.SetAction(parse =>
        {
            var paths = parse.GetValue(files)!;
            foreach (var path in paths.Where(p => !File.Exists(p)))
            {
                stderr.WriteLine($"corral log export: {path}: no such file");
                return CorralCommand.InputError;
            }
            var problems = new LineProblems();
            var tally = new ExportTally();
            try
            {
                using var sink = parse.GetValue(output) is { } outputPath ? File.Create(outputPath) : null;
                var target = sink ?? (Stream)new TextWriterStream(stdout);
                ExportOcsf(FlowLogFiles.Expand(paths), target, problems, tally);
                target.Flush();
            }
            catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
            {
                stderr.WriteLine($"corral log export: {e.Message}");
                return CorralCommand.InputError;
            }
            foreach (var problem in problems.First) stderr.WriteLine($"corral log export: {problem}");
            if (problems.Count > problems.First.Count) stderr.WriteLine($"corral log export: ... and {problems.Count - problems.First.Count} more line(s) that are not records");
            stderr.WriteLine($"exported {tally.Events} event(s) (Network Activity {tally.Network}, HTTP Activity {tally.Http}, DNS Activity {tally.Dns}); "
                + $"{tally.ChainLines} checkpoint/gap line(s) not exported ({tally.Dropped} record(s) dropped by the gateway, per its gap records); {problems.Count} line(s) not records");
            return problems.Count > 0 ? CorralCommand.InputError : CorralCommand.Ok;
        });
        return command;
    }

    private sealed class ExportTally
    {
        public long Events, Network, Http, Dns, ChainLines, Dropped;
    }

    /// <summary>Maps every line of the files to an OCSF event (<see cref="OcsfMapping"/>) and writes it as one line.</summary>
    private static void ExportOcsf(IEnumerable<string> files, Stream target, LineProblems problems, ExportTally tally)
    {
        var options = new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        var buffer = new ArrayBufferWriter<byte>(4096);
        using var json = new Utf8JsonWriter(buffer, options);
        foreach (var line in FlowLogReader.Lines(files))
        {
            var origin = $"{line.File}:{line.Number}";
            if (line.TooLong) { problems.Add(origin, $"line longer than {FlowLogReader.MaxLineBytes} bytes"); continue; }
            var text = line.Text.Span.TrimEnd((byte)'\r');
            if (text.IsEmpty || text.IndexOfAnyExcept((byte)' ', (byte)'\t') < 0) continue;
            JsonObject? record;
            try { record = JsonNode.Parse(text) as JsonObject; }
            catch (JsonException e) { problems.Add(origin, $"not JSON ({e.Message.Split(". ")[0]})"); continue; }
            if (record is null) { problems.Add(origin, "not a JSON object"); continue; }
            var evt = record["event"] is JsonValue v && v.TryGetValue<string>(out var name) ? name : null;
            if (evt is "checkpoint" or "gap")
            {
                tally.ChainLines++;
                if (evt == "gap" && record["dropped"] is JsonValue d && d.TryGetValue<long>(out var dropped)) tally.Dropped += dropped;
                continue;
            }
            var ocsf = OcsfMapping.IsOcsf(record) ? (OcsfMapping.ToNative(record) is null ? null : record) : OcsfMapping.ToOcsf(record, OcsfProduct.Corral);
            if (ocsf is null) { problems.Add(origin, evt is null ? "not a flow record (no \"event\")" : $"not a flow record (event '{evt}', or no valid \"time\")"); continue; }
            buffer.ResetWrittenCount();
            json.Reset(buffer);
            ocsf.WriteTo(json);
            json.Flush();
            buffer.Write("\n"u8);
            target.Write(buffer.WrittenSpan); // one whole line a write
            tally.Events++;
            switch (ocsf["class_uid"]?.GetValue<int>())
            {
                case 4001: tally.Network++; break;
                case 4002: tally.Http++; break;
                default: tally.Dns++; break;
            }
        }
    }

    /// <summary>A write-only stream onto a TextWriter (standard output in the command, a StringWriter in tests).</summary>
    private sealed class TextWriterStream(TextWriter writer) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() => writer.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override void Write(ReadOnlySpan<byte> buffer) => writer.Write(Encoding.UTF8.GetString(buffer));
    }

    /// <summary>Each path with every rotation beside it (FILE.N or FILE.N.gz, gaps included: a missing middle file must not hide older ones).</summary>
    private static List<string> WithRotations(IEnumerable<string> paths)
    {
        var result = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var path in paths)
        {
            for (var n = 999; n >= 1; n--)
                foreach (var rotated in new[] { $"{path}.{n}", $"{path}.{n}.gz" })
                    if (File.Exists(rotated) && seen.Add(Path.GetFullPath(rotated))) result.Add(rotated);
            if (seen.Add(Path.GetFullPath(path))) result.Add(path);
        }
        return result;
    }

    /// <summary>The files ordered by the first record of the chain each holds (a file with none keeps its place at the front).</summary>
    private static List<string> InChainOrder(List<string> files) =>
        files.Select((f, i) => (File: f, Index: i, First: FlowLogVerifier.FirstSeq(FlowLogFiles.Open(f)) ?? 0))
            .OrderBy(f => f.First).ThenBy(f => f.Index).Select(f => f.File).ToList();
}

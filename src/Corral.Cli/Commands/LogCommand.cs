using System.CommandLine;
using Corral.Audit;
using Corral.Replay;

namespace Corral.Cli.Commands;

/// <summary>
/// <c>corral log keygen|verify</c>: make the key that signs the flow log's checkpoints, and check a flow log's hash
/// chain and signatures across its rotated (and gzipped) files.
/// </summary>
internal static class LogCommand
{
    public const string DefaultKeyDirectory = "corral-flowlog-key";

    /// <summary>Exit code of <c>verify</c> when nothing was tampered with but not every record is signed (a crash, a live log).</summary>
    public const int Incomplete = 3;

    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var command = new Command("log", "Make the flow log's signing key, verify a flow log");
        command.Subcommands.Add(KeyGen(stdout, stderr));
        command.Subcommands.Add(Verify(stdout, stderr));
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

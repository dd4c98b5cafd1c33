namespace Corral.Audit;

/// <summary>What a verification found wrong: tampering (or damage) that a crash does not explain.</summary>
public enum ProblemKind { Edited, Removed, Reordered, Inserted, MissingFile, BadSignature, WrongKey, NotARecord, NotChained }

/// <summary>What a verification found worth saying that is not tampering: a crash, a restart, records the gateway dropped.</summary>
public enum NoteKind { StartsMidChain, TornWrite, UncleanRestart, Gap, UnsignedTail, NoShutdown, SignaturesNotChecked }

public sealed record VerifyProblem(ProblemKind Kind, string Location, string Message)
{
    public override string ToString() => $"{Location}: {KindName(Kind)}: {Message}";

    public static string KindName(ProblemKind kind) => kind switch
    {
        ProblemKind.MissingFile => "missing-file",
        ProblemKind.BadSignature => "bad-signature",
        ProblemKind.WrongKey => "wrong-key",
        ProblemKind.NotARecord => "not-a-record",
        ProblemKind.NotChained => "not-chained",
        _ => kind.ToString().ToLowerInvariant(),
    };
}

public sealed record VerifyNote(NoteKind Kind, string Location, string Message)
{
    public override string ToString() => $"{Location}: {KindName(Kind)}: {Message}";

    public static string KindName(NoteKind kind) => kind switch
    {
        NoteKind.StartsMidChain => "starts-mid-chain",
        NoteKind.TornWrite => "torn-write",
        NoteKind.UncleanRestart => "unclean-restart",
        NoteKind.UnsignedTail => "unsigned-tail",
        NoteKind.NoShutdown => "no-shutdown",
        NoteKind.SignaturesNotChecked => "signatures-not-checked",
        _ => "gap",
    };
}

/// <summary>The outcome of <see cref="FlowLogVerifier.Verify"/>.</summary>
public sealed record VerifyReport(IReadOnlyList<VerifyProblem> Problems, IReadOnlyList<VerifyNote> Notes, long Lines, long FirstSeq, long LastSeq,
    int Checkpoints, long LastSignedSeq, long DroppedByGateway)
{
    /// <summary>No tampering or damage found.</summary>
    public bool Intact => Problems.Count == 0;

    /// <summary>Intact, and every record is covered by a checked signature up to a shutdown checkpoint.</summary>
    public bool Complete => Intact && !Notes.Any(n => n.Kind is NoteKind.UnsignedTail or NoteKind.NoShutdown or NoteKind.SignaturesNotChecked);
}

/// <summary>
/// Checks flow-log files (oldest first, as rotated) for the hash chain and signed checkpoints the gateway writes
/// (docs/flow-log.md, "Tamper evidence"), streaming: memory holds a bounded window of recent links, not the files.
/// Names what is wrong — a record edited, removed, reordered or inserted, a file missing between two others, a
/// checkpoint that does not verify or is signed by another key — and tells a crash (a torn last write, records after
/// the last checkpoint with no shutdown checkpoint) apart from tampering.
/// </summary>
/// <param name="trusted">The public key checkpoints must be signed with; null checks the chain only.</param>
public sealed class FlowLogVerifier(CheckpointPublicKey? trusted)
{
    /// <summary>Links remembered for reordering and insertion checks.</summary>
    private const int Window = 4096;

    private readonly List<VerifyProblem> _problems = [];
    private readonly List<VerifyNote> _notes = [];
    private readonly Dictionary<long, (string Hash, string Location)> _links = [];
    private readonly Queue<long> _order = new();
    private readonly List<Gap> _gaps = [];
    private long _maxSeq, _firstSeq, _lines, _lastSignedSeq, _dropped, _sinceCheckpoint;
    private int _checkpoints;
    private string _maxLocation = "";
    private ChainedLine? _lastChained;
    private Duplicate? _duplicate;
    private string? _junk; // a line that is not a chained record, waiting for what follows it
    private bool _junkUnterminated; // ... and it ended without a newline (a write cut short, if nothing follows it)
    private bool _previousFileEndedInRotation, _sawChained, _signaturesUnchecked;

    private sealed record Gap(long From, long To, string After, string Before, bool AtFileBoundary);

    private sealed record Duplicate(long Seq, string FirstHash, string FirstLocation, string SecondHash, string SecondLocation);

    /// <summary>Verifies the files in order (each opened by its function: plain or decompressed).</summary>
    public VerifyReport Verify(IEnumerable<(string Name, Func<Stream> Open)> files)
    {
        foreach (var (name, open) in files)
        {
            using var stream = open();
            var firstInFile = true;
            ChainedLine? lastInFile = null;
            foreach (var (number, line, terminated) in Lines(stream))
            {
                _lines++;
                var location = $"{name}:{number}";
                if (line.Length == 0) continue;
                var parsed = ChainedLine.Parse(line);
                if (parsed is null || !parsed.IsChained)
                {
                    if (parsed is not null && !_sawChained) { NotChained(location); continue; }
                    if (_junk is not null) Problem(ProblemKind.NotARecord, _junk, "not a chained flow record (inserted, or damaged)");
                    (_junk, _junkUnterminated) = (location, !terminated);
                    continue;
                }
                OnChained(parsed, FlowChain.Hash(line), location, firstInFile);
                firstInFile = false;
                lastInFile = parsed;
            }
            _previousFileEndedInRotation = lastInFile is { Event: "checkpoint", Reason: "rotation" };
        }
        Finish();
        return new VerifyReport(_problems, _notes, _lines, _firstSeq, _maxSeq, _checkpoints, _lastSignedSeq, _dropped);
    }

    private void NotChained(string location)
    {
        if (_problems.Any(p => p.Kind == ProblemKind.NotChained)) return;
        Problem(ProblemKind.NotChained, location, "a record without \"seq\" and \"prev\": the log was written without the chain, or the record was inserted");
    }

    private void OnChained(ChainedLine line, string hash, string location, bool firstInFile)
    {
        var seq = line.Seq!.Value;
        if (_junk is not null)
        {
            // A torn write left by a killed gateway is followed by the gap record its restart writes.
            if (line is { Event: "gap", Reason: "torn-write" }) Note(NoteKind.TornWrite, _junk, "a write cut short when the gateway stopped abruptly (its records are lost; the restarted gateway recorded the gap)");
            else Problem(ProblemKind.NotARecord, _junk, "not a chained flow record (inserted, or damaged)");
            _junk = null;
        }
        if (!_sawChained)
        {
            _sawChained = true;
            _firstSeq = seq;
            if (seq != 1) Note(NoteKind.StartsMidChain, location, $"the chain starts at record {seq}: earlier records are in files not given (rotated away, or not named)");
            else if (line.Prev != FlowChain.Genesis) Problem(ProblemKind.Edited, location, "the first record of the chain does not start from the genesis hash");
            Advance(seq, hash, location);
        }
        else if (_duplicate is { } dup && seq == dup.Seq + 1)
        {
            // Two lines carried one number: the one the next record chains to is the original.
            var inserted = line.Prev == dup.SecondHash ? dup.FirstLocation : line.Prev == dup.FirstHash ? dup.SecondLocation : null;
            Problem(ProblemKind.Inserted, inserted ?? dup.SecondLocation, inserted is null
                ? $"{dup.FirstLocation} and {dup.SecondLocation} both claim record {dup.Seq}, and neither is the one the next record chains to"
                : $"a record that is not part of the chain (it repeats record {dup.Seq}; the next record chains to the other)");
            _duplicate = null;
            Advance(seq, hash, location);
        }
        else if (seq == _maxSeq + 1)
        {
            if (_links.TryGetValue(_maxSeq, out var before) && before.Hash != line.Prev)
                Problem(ProblemKind.Edited, before.Location, $"record {_maxSeq} was changed after it was written (the next record chained to a different hash)");
            Advance(seq, hash, location);
        }
        else if (seq > _maxSeq + 1)
        {
            _gaps.Add(new Gap(_maxSeq + 1, seq - 1, _maxLocation, location, firstInFile && _previousFileEndedInRotation));
            Advance(seq, hash, location);
        }
        else if (TakeFromGap(seq) is { } gap)
        {
            Problem(ProblemKind.Reordered, location, $"record {seq} is out of order: it belongs between {gap.After} and {gap.Before}");
            Remember(seq, hash, location);
        }
        else if (_links.TryGetValue(seq, out var first))
        {
            if (_duplicate is { } earlier) Problem(ProblemKind.Inserted, earlier.SecondLocation, $"repeats record {earlier.Seq} ({earlier.FirstLocation})");
            _duplicate = new Duplicate(seq, first.Hash, first.Location, hash, location);
        }
        else Problem(ProblemKind.Inserted, location, $"repeats record {seq}, which came long before");

        OnEvent(line, seq, location);
        _lastChained = line;
    }

    private void OnEvent(ChainedLine line, long seq, string location)
    {
        if (line.Event == "gap")
        {
            _dropped += line.Dropped ?? 0;
            if (line.Reason != "torn-write")
                Note(NoteKind.Gap, location, $"the gateway dropped {line.Dropped?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "an unknown number of"} record(s) here ({line.Reason}): counted, not tampering");
        }
        if (line.Event != "checkpoint") { _sinceCheckpoint++; return; }
        _checkpoints++;
        if (Checkpoint.ParseReason(line.Reason) == CheckpointReason.Start && _lastChained is not null && _lastChained is not { Event: "checkpoint", Reason: "shutdown" })
            Note(NoteKind.UncleanRestart, location, _sinceCheckpoint > 0
                ? $"the gateway restarted without having shut down (killed or crashed); the {_sinceCheckpoint} record(s) before it were unsigned until this checkpoint"
                : "the gateway restarted without having shut down (killed or crashed)");
        _sinceCheckpoint = 0;
        if (trusted is null) { _signaturesUnchecked = true; return; }
        if (line.Key != trusted.Id)
        {
            Problem(ProblemKind.WrongKey, location, $"checkpoint signed by key {line.Key ?? "(none)"}, not by the given key {trusted.Id}");
            return;
        }
        byte[] signature;
        try { signature = Convert.FromBase64String(line.Signature ?? ""); }
        catch (FormatException) { signature = []; }
        if (line.Time is null || line.Reason is null || !trusted.Verify(Checkpoint.Message(new ChainLink(seq, line.Prev!), line.Time, line.Reason, line.Key), signature))
            Problem(ProblemKind.BadSignature, location, $"checkpoint at record {seq} does not verify: it, or the chain before it, was changed after signing");
        else _lastSignedSeq = seq;
    }

    private void Finish()
    {
        if (_junk is not null)
        {
            if (_junkUnterminated)
                Note(NoteKind.TornWrite, _junk, "the last write was cut short (the gateway was killed or crashed in the middle of it)");
            else Problem(ProblemKind.NotARecord, _junk, "not a chained flow record (appended, or damaged)");
        }
        if (_duplicate is { } d) Problem(ProblemKind.Inserted, d.SecondLocation, $"{d.FirstLocation} and {d.SecondLocation} both claim record {d.Seq}");
        foreach (var gap in _gaps)
        {
            var count = gap.To - gap.From + 1;
            var range = count == 1 ? $"record {gap.From}" : $"records {gap.From}..{gap.To}";
            if (gap.AtFileBoundary)
                Problem(ProblemKind.MissingFile, gap.Before, $"a file is missing before this one: {range} ({count}) are not in the files given, and the file before ended at its rotation checkpoint");
            else Problem(ProblemKind.Removed, gap.Before, $"{count} record(s) removed between {gap.After} and here ({range})");
        }
        if (!_sawChained)
        {
            if (_problems.Count == 0) Problem(ProblemKind.NotChained, "(all files)", "no chained record: nothing here can be verified");
            return;
        }
        if (_signaturesUnchecked) Note(NoteKind.SignaturesNotChecked, "(all files)", "checkpoints found but not checked: no public key given");
        if (_sinceCheckpoint > 0)
            Note(NoteKind.UnsignedTail, _maxLocation, _checkpoints == 0
                ? $"no checkpoint: the {_sinceCheckpoint} record(s) are chained but not signed (the gateway runs without a signing key?)"
                : $"the last {_sinceCheckpoint} record(s) come after the last checkpoint: chained but not signed; the log ends without the gateway's shutdown checkpoint (it is still running, or was killed or crashed)");
        else if (_lastChained is not { Event: "checkpoint", Reason: "shutdown" })
            Note(NoteKind.NoShutdown, _maxLocation, "the log ends at a checkpoint but not at a shutdown checkpoint (the gateway is still running, or was killed or crashed)");
    }

    private Gap? TakeFromGap(long seq)
    {
        for (var i = 0; i < _gaps.Count; i++)
        {
            var gap = _gaps[i];
            if (seq < gap.From || seq > gap.To) continue;
            _gaps.RemoveAt(i);
            if (seq > gap.From) _gaps.Insert(i, gap with { To = seq - 1 });
            if (seq < gap.To) _gaps.Insert(seq > gap.From ? i + 1 : i, gap with { From = seq + 1 });
            return gap;
        }
        return null;
    }

    private void Advance(long seq, string hash, string location)
    {
        _maxSeq = seq;
        _maxLocation = location;
        Remember(seq, hash, location);
    }

    private void Remember(long seq, string hash, string location)
    {
        if (!_links.TryAdd(seq, (hash, location))) return;
        _order.Enqueue(seq);
        if (_order.Count > Window) _links.Remove(_order.Dequeue());
    }

    private void Problem(ProblemKind kind, string location, string message) => _problems.Add(new VerifyProblem(kind, location, message));

    private void Note(NoteKind kind, string location, string message) => _notes.Add(new VerifyNote(kind, location, message));

    /// <summary>The sequence number of the first chained line in <paramref name="stream"/> (which it disposes); null when it has none.</summary>
    public static long? FirstSeq(Stream stream)
    {
        using (stream)
            foreach (var (_, line, _) in Lines(stream))
                if (ChainedLine.Parse(line) is { IsChained: true } chained) return chained.Seq;
        return null;
    }

    /// <summary>The stream's lines (without their newline), numbered from 1, and whether each ended in a newline.</summary>
    private static IEnumerable<(long Number, byte[] Line, bool Terminated)> Lines(Stream stream)
    {
        var buffer = new byte[1 << 16];
        var line = new MemoryStream();
        long number = 0;
        int read;
        while ((read = stream.Read(buffer, 0, buffer.Length)) > 0)
        {
            var start = 0;
            for (var i = Array.IndexOf(buffer, (byte)'\n', 0, read); i >= 0; i = Array.IndexOf(buffer, (byte)'\n', start, read - start))
            {
                line.Write(buffer, start, i - start);
                yield return (++number, line.ToArray(), true);
                line.SetLength(0);
                start = i + 1;
            }
            line.Write(buffer, start, read - start);
        }
        if (line.Length > 0) yield return (++number, line.ToArray(), false);
    }
}

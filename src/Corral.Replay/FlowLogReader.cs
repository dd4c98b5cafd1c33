using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Corral.Audit.Ocsf;
using Corral.Policy.Compilation;

namespace Corral.Replay;

/// <summary>One line of a flow-log file; <see cref="Text"/> is valid until the next line is read.</summary>
/// <param name="TooLong">The line was longer than <see cref="FlowLogReader.MaxLineBytes"/>: <see cref="Text"/> is empty.</param>
public readonly record struct FlowLogLine(string File, long Number, ReadOnlyMemory<byte> Text, bool TooLong);

/// <summary>
/// Streams the decision and request records of flow logs (docs/flow-log.md), one line at a time: memory stays the
/// same whatever the size of the files. Close and DNS records are skipped; a line that is not a record is counted in
/// <see cref="LineProblems"/> with its line number (or, when strict, stops the reading). Reads the native records
/// and OCSF events of <c>corral log export</c> or the gateway's OCSF sink alike.
/// </summary>
public sealed class FlowLogReader(LineProblems problems, bool strict = false)
{
    /// <summary>Longer lines are not flow records; they are skipped as malformed.</summary>
    public const int MaxLineBytes = 1 << 20;

    public IEnumerable<RecordedFlow> Read(IEnumerable<string> files)
    {
        foreach (var line in Lines(files))
        {
            var record = line.TooLong ? Malformed(line.File, line.Number, $"line longer than {MaxLineBytes} bytes") : Parse(line.File, line.Number, line.Text.Span);
            if (record is not null) yield return record;
        }
    }

    /// <summary>Every line of the files (plain or gzip), in one reused buffer.</summary>
    public static IEnumerable<FlowLogLine> Lines(IEnumerable<string> files)
    {
        foreach (var file in files)
        {
            using var stream = FlowLogFiles.Open(file);
            var lines = new LineSplitter(stream);
            while (lines.Next(out var start, out var length, out var tooLong))
                yield return new FlowLogLine(file, lines.LineNumber, lines.Buffer.AsMemory(start, length), tooLong);
        }
    }

    /// <summary>Reads one line; null for a close record, a blank line, or a malformed line (counted).</summary>
    public RecordedFlow? Parse(string file, long line, ReadOnlySpan<byte> text)
    {
        text = text.TrimEnd((byte)'\r');
        if (text.IsEmpty || text.IndexOfAnyExcept((byte)' ', (byte)'\t') < 0) return null;
        try
        {
            return ParseRecord(file, line, text, ocsf: true, out var problem) ?? (problem is null ? null : Malformed(file, line, problem));
        }
        catch (JsonException e)
        {
            return Malformed(file, line, $"not JSON ({FirstSentence(e.Message)})");
        }
    }

    private RecordedFlow? Malformed(string file, long line, string problem)
    {
        var entry = new LineProblem($"{file}:{line}", problem);
        if (strict) throw new MalformedFlowLogException(entry);
        problems.Add(entry.Origin, problem);
        return null;
    }

    private static string FirstSentence(string message)
    {
        var end = message.IndexOf(". ", StringComparison.Ordinal);
        return end < 0 ? message.TrimEnd('.') : message[..end];
    }

    /// <param name="ocsf">Whether an OCSF event is read (mapped back to its native record); false for that record itself.</param>
    private static RecordedFlow? ParseRecord(string file, long line, ReadOnlySpan<byte> text, bool ocsf, out string? problem)
    {
        problem = null;
        var reader = new Utf8JsonReader(text, new JsonReaderOptions { MaxDepth = 8 });
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) { problem = "not a JSON object"; return null; }
        int version = 1;
        DateTimeOffset? time = null;
        string? evt = null, flowId = null, host = null, url = null, method = null, rule = null, action = null, reason = null, agent = null;
        bool? enforced = null, refused = null;
        IPEndPoint? src = null, dst = null;
        Flow? facts = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var name = reader.ValueSpan;
            reader.Read();
            if (name.SequenceEqual("v"u8)) version = reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out var v) ? v : 0;
            else if (name.SequenceEqual("time"u8)) time = reader.TokenType == JsonTokenType.String && reader.TryGetDateTimeOffset(out var t) ? t : null;
            else if (name.SequenceEqual("event"u8)) evt = String(ref reader);
            else if (name.SequenceEqual("flow"u8)) flowId = String(ref reader);
            else if (name.SequenceEqual("src"u8)) src = EndPoint(ref reader);
            else if (name.SequenceEqual("dst"u8)) dst = EndPoint(ref reader);
            else if (name.SequenceEqual("host"u8)) host = String(ref reader);
            else if (name.SequenceEqual("agent"u8)) agent = String(ref reader);
            else if (name.SequenceEqual("url"u8)) url = String(ref reader);
            else if (name.SequenceEqual("method"u8)) method = String(ref reader);
            else if (name.SequenceEqual("rule"u8)) rule = String(ref reader);
            else if (name.SequenceEqual("action"u8)) action = String(ref reader);
            else if (name.SequenceEqual("reason"u8)) reason = String(ref reader);
            else if (name.SequenceEqual("enforced"u8)) enforced = Bool(ref reader);
            else if (name.SequenceEqual("refused"u8)) refused = Bool(ref reader);
            else if (name.SequenceEqual("check"u8)) { if (reader.TokenType == JsonTokenType.String) refused = true; } // the gateway check that refused
            else if (name.SequenceEqual("class_uid"u8)) return ocsf ? ParseOcsf(file, line, text, out problem) : Problem(out problem, "an OCSF event inside an OCSF event");
            else if (name.SequenceEqual("facts"u8))
            {
                if (reader.TokenType == JsonTokenType.StartObject) { facts = ReadFacts(ref reader, out problem); if (problem is not null) return null; }
                else if (reader.TokenType != JsonTokenType.Null) { problem = "\"facts\" is not an object"; return null; }
            }
            else reader.Skip();
        }
        // No connection verdict: a connection's end, the resolver's answer (its verdict is on a name; the connection that
        // follows has its own decision record), or the chain's own lines (docs/flow-log.md).
        if (evt is "close" or "dns" or "checkpoint" or "gap") return null;
        if (evt is not ("decision" or "request")) { problem = evt is null ? "no \"event\"" : $"unknown event '{evt}'"; return null; }
        if (version < 1) { problem = "\"v\" is not a schema version"; return null; }
        if (time is null) { problem = "no valid \"time\""; return null; }
        if (action is not ("permit" or "deny") || enforced is null) { problem = "no verdict (\"action\" and \"enforced\")"; return null; }
        // Schema 1 had no "refused": a verdict without a rule whose reason is not the default action's was the gateway's.
        refused ??= rule is null && reason is not null && !IsPolicyReasonWithoutRule(reason);
        var recorded = new Outcome(rule, action == "permit", enforced.Value, refused.Value);
        var kind = evt == "request" ? RecordKind.Request : RecordKind.Decision;

        var missing = MissingFacts.None;
        string? notReplayable = null;
        if (facts is null && src is not null && dst is not null)
        {
            // Schema 1: the chosen address only, TLS unknown, the path only where the URL shows it.
            string? path = null;
            if (url is not null && (kind == RecordKind.Request || method is not (null or "CONNECT")))
            {
                var slash = url.IndexOf('/', url.IndexOf("://", StringComparison.Ordinal) is var scheme and >= 0 ? scheme + 3 : 0);
                if (slash >= 0) Policy.Addressing.UrlPath.TryNormalize(url[slash..], out path, out _);
                if (path is null) missing |= MissingFacts.Path;
            }
            facts = new Flow { Source = src.Address, Host = host, Destinations = [dst.Address], Port = dst.Port, Path = path };
            missing |= MissingFacts.AllAddresses | MissingFacts.Tls;
        }
        // The agent the client authenticated as is a fact of the flow: rules naming it match again on replay.
        if (facts is { } known && agent is not null) facts = known with { Agent = agent };
        if (refused.Value) notReplayable = $"refused by the gateway: {reason}";
        else if (facts is null) notReplayable = src is null ? "no source address recorded" : "no destination address recorded";
        else if (facts.Value.Destinations.Count == 0) notReplayable = "no destination address recorded";
        return new RecordedFlow
        {
            File = file, Line = line, Time = time.Value, Kind = kind, FlowId = flowId, Host = facts?.Host ?? host, Agent = agent,
            Address = dst?.Address ?? (facts is { Destinations.Count: > 0 } f ? f.Destinations[0] : null),
            Port = dst?.Port ?? facts?.Port ?? 0, Recorded = recorded, Facts = notReplayable is null ? facts : null, Missing = missing,
            NotReplayable = notReplayable,
        };
    }

    /// <summary>An OCSF event (docs/flow-log.md, "OCSF"): read as the native record it maps back to.</summary>
    private static RecordedFlow? ParseOcsf(string file, long line, ReadOnlySpan<byte> text, out string? problem)
    {
        if (JsonNode.Parse(text) is not JsonObject ocsf) return Problem(out problem, "not a JSON object");
        if (OcsfMapping.ToNative(ocsf) is not { } native) return Problem(out problem, $"an OCSF event without Corral's fields (unmapped.{OcsfMapping.Extension})");
        return ParseRecord(file, line, JsonSerializer.SerializeToUtf8Bytes(native), ocsf: false, out problem);
    }

    private static RecordedFlow? Problem(out string? problem, string text)
    {
        problem = text;
        return null;
    }

    private static bool IsPolicyReasonWithoutRule(string reason) =>
        reason.StartsWith("no rule matched", StringComparison.Ordinal) || reason.StartsWith("no destination address", StringComparison.Ordinal)
        || reason.StartsWith("host name not in normalized form", StringComparison.Ordinal);

    private static Flow? ReadFacts(ref Utf8JsonReader reader, out string? problem)
    {
        problem = null;
        IPAddress? source = null;
        string? host = null, path = null;
        var addresses = new List<IPAddress>(2);
        int port = -1;
        bool? tls = null;
        var protocol = FlowProtocol.Tcp;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var name = reader.ValueSpan;
            reader.Read();
            if (name.SequenceEqual("src"u8)) source = Address(ref reader);
            else if (name.SequenceEqual("host"u8)) host = String(ref reader);
            else if (name.SequenceEqual("path"u8)) path = String(ref reader);
            else if (name.SequenceEqual("port"u8)) port = reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out var p) && p is >= 0 and <= 65535 ? p : -1;
            else if (name.SequenceEqual("tls"u8)) tls = Bool(ref reader);
            else if (name.SequenceEqual("protocol"u8))
            {
                var word = String(ref reader);
                if (word is "tcp") protocol = FlowProtocol.Tcp;
                else if (word is "udp") protocol = FlowProtocol.Udp;
                else if (word is "icmp") protocol = FlowProtocol.Icmp;
                else { problem = $"unknown facts.protocol '{word}'"; return null; }
            }
            else if (name.SequenceEqual("addresses"u8))
            {
                if (reader.TokenType != JsonTokenType.StartArray) { problem = "facts.addresses is not an array"; return null; }
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    if (Address(ref reader) is not { } a) { problem = "facts.addresses holds something that is not an IP address"; return null; }
                    addresses.Add(a);
                }
            }
            else reader.Skip();
        }
        if (source is null) { problem = "facts.src is not an IP address"; return null; }
        if (port < 0) { problem = "facts.port is not a port"; return null; }
        return new Flow { Source = source, Host = host, Destinations = addresses, Port = port, Protocol = protocol, IsTls = tls, Path = path };
    }

    private static string? String(ref Utf8JsonReader reader) => reader.TokenType == JsonTokenType.String ? reader.GetString() : null;

    private static bool? Bool(ref Utf8JsonReader reader) =>
        reader.TokenType switch { JsonTokenType.True => true, JsonTokenType.False => false, _ => null };

    private static IPAddress? Address(ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.String || reader.HasValueSequence || reader.ValueIsEscaped) return null;
        return IPAddress.TryParse(reader.ValueSpan, out var address) ? address : null;
    }

    private static IPEndPoint? EndPoint(ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.String || reader.ValueIsEscaped) return null;
        Span<char> chars = stackalloc char[64];
        if (reader.ValueSpan.Length > chars.Length) return null;
        var n = Encoding.ASCII.GetChars(reader.ValueSpan, chars);
        return IPEndPoint.TryParse(chars[..n], out var endPoint) ? endPoint : null;
    }

    /// <summary>Splits a stream into lines in one reusable buffer; a line longer than the limit is reported and skipped.</summary>
    private sealed class LineSplitter(Stream stream)
    {
        private byte[] _buffer = new byte[1 << 18];
        private int _start, _end;
        private bool _eof;

        public byte[] Buffer => _buffer;
        public long LineNumber { get; private set; }

        public bool Next(out int start, out int length, out bool tooLong)
        {
            tooLong = false;
            var scanFrom = _start;
            while (true)
            {
                var newline = _buffer.AsSpan(scanFrom, _end - scanFrom).IndexOf((byte)'\n');
                if (newline >= 0)
                {
                    LineNumber++;
                    start = _start;
                    length = scanFrom + newline - _start;
                    _start = scanFrom + newline + 1;
                    if (tooLong) { start = 0; length = 0; }
                    return true;
                }
                if (_eof)
                {
                    if (_start == _end && !tooLong) { start = length = 0; return false; }
                    LineNumber++;
                    (start, length) = tooLong ? (0, 0) : (_start, _end - _start);
                    _start = _end;
                    return true;
                }
                if (_end - _start >= MaxLineBytes)
                {
                    tooLong = true; // drop what we have of this line and keep looking for its end
                    _start = _end = 0;
                }
                else if (_start > 0)
                {
                    _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
                    _end -= _start;
                    _start = 0;
                }
                if (_end == _buffer.Length) Array.Resize(ref _buffer, Math.Min(_buffer.Length * 2, MaxLineBytes + 1));
                scanFrom = _start + (_end - _start); // everything up to _end was scanned already
                var read = stream.Read(_buffer, _end, _buffer.Length - _end);
                if (read == 0) _eof = true;
                _end += read;
            }
        }
    }
}

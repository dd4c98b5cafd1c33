using System.Text;
using System.Text.Json;
using Corral.Policy.Compilation;
using Corral.Replay;

namespace Corral.Cli.Commands;

/// <summary>
/// <c>corral explain --flows FILE</c>: one compile, then one verdict line per input line. A line is either a question
/// in explain's own terms (<c>src</c>, <c>dst</c>, <c>port</c>, <c>resolved</c>, <c>path</c>, <c>protocol</c>,
/// <c>plain</c>) or a flow-log record, whose recorded facts are decided again. A bad line gets an error line with its
/// number, the rest are still answered, and the exit code is 1.
/// </summary>
internal static class ExplainFlows
{
    public static int Run(string policyPath, CompileOptions options, string flowsPath, TextWriter stdout, TextWriter stderr)
    {
        if (flowsPath != "-" && !File.Exists(flowsPath))
        {
            stderr.WriteLine($"corral explain: {flowsPath}: no such file");
            return CorralCommand.InputError;
        }
        if (!CommonOptions.TryCompile("explain", policyPath, stderr, out var result, options)) return CorralCommand.InputError;
        var policy = result.Compiled!;
        using var input = flowsPath == "-" ? new StreamReader(Console.OpenStandardInput(), Encoding.UTF8) : new StreamReader(FlowLogFiles.Open(flowsPath), Encoding.UTF8);
        var records = new FlowLogReader(new LineProblems(), strict: true);
        long line = 0, bad = 0;
        var buffer = new MemoryStream();
        using var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        while (input.ReadLine() is { } text)
        {
            line++;
            if (string.IsNullOrWhiteSpace(text)) continue;
            var read = TryReadFlow(records, flowsPath, line, text, out var flow, out var recorded, out var error);
            if (read is null) continue; // a close record: nothing was decided
            w.Reset();
            buffer.SetLength(0);
            w.WriteStartObject();
            w.WriteNumber("line", line);
            if (read.Value)
            {
                w.WriteString("src", flow.Source.ToString());
                if (flow.Host is null) w.WriteNull("host"); else w.WriteString("host", flow.Host);
                w.WriteNumber("port", flow.Port);
                var verdict = policy.Decide(flow);
                VerdictJson.WriteProperties(w, verdict);
                if (recorded is { } r) ReplayReportWriter.WriteOutcome(w, "recorded", r);
            }
            else
            {
                bad++;
                w.WriteString("error", error);
            }
            w.WriteEndObject();
            w.Flush();
            stdout.WriteLine(Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length));
        }
        if (bad > 0) stderr.WriteLine($"corral explain: {bad} of {line} line(s) could not be read; their output lines carry \"error\"");
        return bad > 0 ? CorralCommand.InputError : CorralCommand.Ok;
    }

    /// <summary>True with the flow to decide, false with an error, null for a record that carries no verdict.</summary>
    private static bool? TryReadFlow(FlowLogReader records, string file, long line, string text, out Flow flow, out Outcome? recorded, out string? error)
    {
        flow = default;
        recorded = null;
        JsonElement root;
        try
        {
            using var document = JsonDocument.Parse(text, new JsonDocumentOptions { MaxDepth = 8 });
            root = document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            error = $"not JSON: {e.Message}";
            return false;
        }
        if (root.ValueKind != JsonValueKind.Object) { error = "not a JSON object"; return false; }
        if (root.TryGetProperty("event", out _))
        {
            // A flow-log record: its recorded facts, decided again.
            try
            {
                var record = records.Parse(file, line, Encoding.UTF8.GetBytes(text));
                if (record is null) { error = null; return null; }
                if (record.Facts is not { } facts) { error = record.NotReplayable ?? "the record lacks the facts to decide on"; return false; }
                (flow, recorded, error) = (facts, record.Recorded, null);
                return true;
            }
            catch (MalformedFlowLogException e)
            {
                error = e.Problem.Problem;
                return false;
            }
        }
        if (!Text(root, "src", out var src) || src is null || !Text(root, "dst", out var dst) || dst is null) { error = "\"src\" and \"dst\" (strings) are required"; return false; }
        if (!Text(root, "path", out var path) || !Text(root, "protocol", out var protocol)) { error = "\"path\" and \"protocol\" must be strings"; return false; }
        var port = 443;
        if (root.TryGetProperty("port", out var p) && !p.TryGetInt32(out port)) { error = "\"port\" must be a number"; return false; }
        var resolved = new List<string>();
        if (root.TryGetProperty("resolved", out var list))
        {
            if (list.ValueKind != JsonValueKind.Array || list.EnumerateArray().Any(e => e.ValueKind != JsonValueKind.String)) { error = "\"resolved\" must be an array of strings"; return false; }
            resolved.AddRange(list.EnumerateArray().Select(e => e.GetString()!));
        }
        var plain = root.TryGetProperty("plain", out var pl) && pl.ValueKind == JsonValueKind.True;
        if (protocol is not (null or "tcp" or "udp" or "icmp")) { error = "\"protocol\" must be tcp, udp or icmp"; return false; }
        return ExplainCommand.TryBuildFlow(src, dst, port, [.. resolved], path, protocol ?? "tcp", plain, out flow, out error);
    }

    private static bool Text(JsonElement root, string name, out string? value)
    {
        value = null;
        if (!root.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null) return true;
        if (e.ValueKind != JsonValueKind.String) return false;
        value = e.GetString();
        return true;
    }
}

using System.IO.Compression;
using System.Text.Json.Nodes;
using Corral.Testing;
using Corral.Testing.Ocsf;

namespace Corral.Cli.Tests;

/// <summary>
/// <c>corral log export --format ocsf</c> on files as the gateway leaves them (rotated, gzipped, with chain lines),
/// and on bad input: a line that is not a record is named by FILE:LINE and loses nothing else.
/// </summary>
public sealed class LogExportTests
{
    private const string Decision = """{"v":2,"seq":SEQ,"prev":"0000000000000000000000000000000000000000000000000000000000000000","time":"2026-12-01T10:00:0SEQ.1234567Z","event":"decision","flow":"fSEQ","listener":"explicit","src":"10.20.1.5:40000","dst":"[2001:db8::7]:443","host":"api.example.org","method":"CONNECT","url":"api.example.org:443","action":"permit","rule":"allow-api","priority":1,"enforced":true,"decrypt":false,"reason":"matched rule 'allow-api'","facts":{"src":"10.20.1.5","host":"api.example.org","addresses":["2001:db8::7"],"port":443,"protocol":"tcp","tls":true,"path":null}}""";

    [Fact]
    public void Rotated_gzipped_files_export_oldest_first_chain_lines_are_counted_and_a_bad_line_is_named()
    {
        using var folder = new TempFolder();
        var path = folder.File("flows.jsonl");
        using (var gz = new GZipStream(File.Create(path + ".1.gz"), CompressionLevel.Fastest))
            gz.Write(System.Text.Encoding.UTF8.GetBytes(Decision.Replace("SEQ", "1", StringComparison.Ordinal) + "\n"));
        File.WriteAllLines(path, [
            Decision.Replace("SEQ", "2", StringComparison.Ordinal),
            """{"v":2,"seq":3,"prev":"0000000000000000000000000000000000000000000000000000000000000000","time":"2026-12-01T10:00:03Z","event":"gap","reason":"queue-full","dropped":3}""",
            "{\"torn",
            """{"v":2,"time":"2026-12-01T10:00:04Z","event":"mystery"}""",
        ]);

        var run = CorralInProcess.Run("log", "export", "--format", "ocsf", path);

        Assert.Equal(1, run.ExitCode);
        Assert.Contains($"{path}:3: not JSON", run.Stderr);
        Assert.Contains($"{path}:4: not a flow record (event 'mystery'", run.Stderr);
        Assert.Contains("exported 2 event(s)", run.Stderr);
        Assert.Contains("3 record(s) dropped by the gateway", run.Stderr);
        var events = run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, events.Length);
        OcsfSchemas.AssertValid(events);
        Assert.Equal(["f1", "f2"], events.Select(e => JsonNode.Parse(e)!["connection_info"]!["uid"]!.GetValue<string>()));
        var first = JsonNode.Parse(events[0])!;
        Assert.Equal("2001:db8::7", first["dst_endpoint"]!["ip"]!.GetValue<string>());
        Assert.Equal("2026-12-01T10:00:01.1234567Z", first["metadata"]!["original_time"]!.GetValue<string>());
        Assert.Equal(1, first["action_id"]!.GetValue<int>());
    }

    [Fact]
    public void A_missing_file_or_format_is_refused()
    {
        var missing = CorralInProcess.Run("log", "export", "--format", "ocsf", "/nonexistent/flows.jsonl");
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("no such file", missing.Stderr);
        Assert.Equal(2, CorralInProcess.Run("log", "export", "/nonexistent/flows.jsonl").ExitCode);
        Assert.Equal(2, CorralInProcess.Run("log", "export", "--format", "cef", "/nonexistent/flows.jsonl").ExitCode);
    }
}

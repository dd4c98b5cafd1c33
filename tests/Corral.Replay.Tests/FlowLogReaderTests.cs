using Corral.Policy;

namespace Corral.Replay.Tests;

/// <summary>The reader on hand-made files: what is a record, what is malformed, and where it says so.</summary>
public sealed class FlowLogReaderTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("corral-replay-reader-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private const string Decision = """{"v":2,"time":"2026-12-01T10:00:00Z","event":"decision","flow":"f1","listener":"explicit","src":"10.20.1.5:40000","dst":"20.1.2.3:443","host":"a.example","action":"deny","rule":"r","priority":5,"enforced":false,"decrypt":false,"reason":"x","facts":{"src":"10.20.1.5","host":"a.example","addresses":["20.1.2.3","20.1.2.4"],"port":443,"protocol":"tcp","tls":true,"path":null}}""";

    private (List<RecordedFlow> Records, LineProblems Problems) Read(string text)
    {
        var path = Path.Combine(_folder, "flows.jsonl");
        File.WriteAllText(path, text);
        var problems = new LineProblems();
        return (new FlowLogReader(problems).Read([path]).ToList(), problems);
    }

    [Fact]
    public void A_line_past_the_limit_is_counted_with_its_number_and_the_lines_after_it_are_still_read()
    {
        var huge = "{\"pad\":\"" + new string('a', FlowLogReader.MaxLineBytes + 10) + "\"}";
        var (records, problems) = Read($"{Decision}\r\n{huge}\n\n{Decision}\n{Decision}");
        Assert.Equal(3, records.Count);
        Assert.Equal([1L, 4L, 5L], records.Select(r => r.Line).ToArray());
        var problem = Assert.Single(problems.First);
        Assert.EndsWith("flows.jsonl:2", problem.Origin);
        Assert.Contains("longer than", problem.Problem);
        Assert.Equal(["20.1.2.3", "20.1.2.4"], records[0].Facts!.Value.Destinations.Select(a => a.ToString()).ToArray());
    }

    [Fact]
    public void The_chain_fields_and_the_chain_own_checkpoint_and_gap_lines_are_not_records_and_not_malformed()
    {
        var chained = Decision.Replace("{\"v\":2,", "{\"v\":2,\"seq\":2,\"prev\":\"" + new string('a', 64) + "\",", StringComparison.Ordinal);
        var (records, problems) = Read(string.Join('\n',
            """{"v":2,"seq":1,"prev":"0000000000000000000000000000000000000000000000000000000000000000","time":"2026-12-01T10:00:00Z","event":"checkpoint","reason":"start","key":"cfe71ef50b33fcc9","sig":"AA=="}""",
            chained,
            """{"v":2,"seq":3,"prev":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","time":"2026-12-01T10:00:01Z","event":"gap","reason":"queue-full","dropped":4}"""));
        Assert.Equal(2L, Assert.Single(records).Line);
        Assert.Equal(0L, problems.Count);
    }

    [Fact]
    public void Malformed_lines_are_counted_each_with_its_reason_and_strict_stops_at_the_first()
    {
        var (records, problems) = Read(string.Join('\n',
            Decision,
            """{"v":2,"time":"2026-12-01T10:00:00Z","event":"decision"}""",
            """{"v":2,"time":"nope","event":"decision","action":"deny","enforced":true}""",
            """[1,2]""",
            """{"v":2,"time":"2026-12-01T10:00:00Z","event":"decision","action":"deny","enforced":true,"facts":{"src":"10.0.0.1","port":443,"addresses":["not-an-ip"]}}""",
            """{"v":2,"time":"2026-12-01T10:00:00Z","event":"close","flow":"f1"}"""));
        Assert.Single(records);
        Assert.Equal(4, problems.Count);
        Assert.Equal(["no verdict (\"action\" and \"enforced\")", "no valid \"time\"", "not a JSON object", "facts.addresses holds something that is not an IP address"],
            problems.First.Select(p => p.Problem).ToArray());

        var path = Path.Combine(_folder, "flows.jsonl");
        var e = Assert.Throws<MalformedFlowLogException>(() => new FlowLogReader(new LineProblems(), strict: true).Read([path]).ToList());
        Assert.EndsWith("flows.jsonl:2", e.Problem.Origin);
    }

    [Fact]
    public void Gateway_refusals_and_records_without_an_address_are_not_decided_again_and_say_why()
    {
        var (records, _) = Read(string.Join('\n',
            """{"v":2,"time":"2026-12-01T10:00:00Z","event":"decision","src":"10.20.1.5:4","dst":null,"host":"gone.example","action":"deny","rule":null,"priority":null,"enforced":true,"decrypt":false,"reason":"'gone.example' did not resolve","refused":true,"facts":{"src":"10.20.1.5","host":"gone.example","addresses":[],"port":443,"protocol":"tcp","tls":null,"path":null}}""",
            // Schema 1: no "refused"; a reason that is not the default action's marks the gateway's own refusal.
            """{"time":"2026-12-01T10:00:00Z","event":"request","src":"10.20.1.5:4","dst":"20.1.2.3:443","host":"a.example","url":"a.example/x","action":"deny","rule":null,"priority":null,"enforced":true,"decrypt":true,"reason":"secret found: private-key"}""",
            """{"time":"2026-12-01T10:00:00Z","event":"decision","src":"10.20.1.5:4","dst":"20.1.2.3:443","host":"a.example","action":"deny","rule":null,"priority":null,"enforced":true,"decrypt":false,"reason":"no rule matched: default action deny"}""",
            // A refusal that names the gateway check that made it.
            """{"v":2,"time":"2026-12-01T10:00:00Z","event":"decision","src":"10.20.1.5:4","dst":"20.1.2.3:443","host":"a.example","action":"deny","rule":null,"check":"name-mismatch","priority":null,"enforced":true,"decrypt":false,"reason":"no rule matched","facts":{"src":"10.20.1.5","host":"a.example","addresses":["20.1.2.3"],"port":443,"protocol":"tcp","tls":true,"path":null}}"""));
        Assert.Equal("refused by the gateway: 'gone.example' did not resolve", records[0].NotReplayable);
        Assert.True(records[1].Recorded.Refused);
        Assert.Null(records[1].Facts);
        Assert.False(records[2].Recorded.Refused);
        Assert.Equal(MissingFacts.AllAddresses | MissingFacts.Tls, records[2].Missing);
        Assert.True(records[3].Recorded.Refused);
        Assert.StartsWith("refused by the gateway", records[3].NotReplayable);
    }

    [Fact]
    public void Refused_records_are_counted_by_their_whole_reason_with_each_flows_own_values_left_out()
    {
        static string Refused(string reason) =>
            $$"""{"v":2,"time":"2026-12-01T10:00:00Z","event":"decision","src":"10.20.1.5:4","dst":"20.1.2.3:443","host":"a.example","action":"deny","rule":null,"priority":null,"enforced":true,"decrypt":false,"reason":"{{reason}}","refused":true}""";
        var (records, _) = Read(string.Join('\n',
            Refused("the request carries private-key"), Refused("the request carries private-key"), Refused("the request carries aws-access-key"),
            Refused("'gone.example' did not resolve"), Refused("'other.example' did not resolve"),
            Refused("the TLS SNI 'evil.example' differs from the requested 'a.example' (domain fronting)"),
            Refused("the TLS SNI 'x.example' differs from the requested 'b.example' (domain fronting)"),
            Refused("4096 connections open, the gateway's limit")));
        var policy = PolicyChecker.CheckText("p.yaml", "version: 1\nname: p\ndefaultAction: deny\nrules: []\n", _folder).Compiled!;

        var report = new Replayer(policy).Run(records);

        Assert.Equal(new Dictionary<string, long>
        {
            ["refused by the gateway: the request carries private-key"] = 2,
            ["refused by the gateway: the request carries aws-access-key"] = 1,
            ["refused by the gateway: '…' did not resolve"] = 2,
            ["refused by the gateway: the TLS SNI '…' differs from the requested '…' (domain fronting)"] = 2,
            ["refused by the gateway: 4096 connections open, the gateway's limit"] = 1,
        }, report.NotReplayed.ToDictionary());
    }

    [Fact]
    public void A_records_agent_is_a_fact_decided_again_with_that_identity_and_flows_select_by_agent()
    {
        static string Permitted(string flow, string? agent) =>
            "{\"v\":2,\"time\":\"2026-12-01T10:00:00Z\",\"event\":\"decision\",\"flow\":\"" + flow + "\",\"listener\":\"explicit\",\"src\":\"10.20.1.5:4\"," +
            (agent is null ? "" : $"\"agent\":\"{agent}\",") +
            """ "dst":"20.1.2.3:443","host":"mcp.contoso.com","action":"permit","rule":"tools","priority":10,"enforced":true,"decrypt":false,"reason":"matched rule 'tools'", """.Trim() +
            """ "facts":{"src":"10.20.1.5","host":"mcp.contoso.com","addresses":["20.1.2.3"],"port":443,"protocol":"tcp","tls":true,"path":null}} """.Trim();
        var (records, _) = Read(string.Join('\n', Permitted("f1", "code-interpreter"), Permitted("f2", null)));
        Assert.Equal(["code-interpreter", null], records.Select(r => r.Agent).ToArray());
        Assert.Equal("code-interpreter", records[0].Facts!.Value.Agent);

        var policy = PolicyChecker.CheckText("p.yaml", $$"""
            version: 1
            webGroups:
              tools: { domains: [mcp.contoso.com] }
            agents:
              code-interpreter: { token-sha256: {{new string('a', 64)}}, cidrs: [10.20.1.0/24] }
            rules:
              - { name: tools, priority: 10, source: [code-interpreter], webGroups: [tools], action: permit }
            """, _folder).Compiled!;
        // The agent's record is decided again as the agent: unchanged. The same flow without an agent now meets the default.
        var report = new Replayer(policy).Run(records);
        Assert.Equal((2L, 1L), (report.Replayed, report.Unchanged));
        Assert.Equal(1, report.PermitToDenyCount);
        var agentOnly = new Replayer(policy).Run(records.OfAgent("code-interpreter"));
        Assert.Equal((1L, 1L, 0L), (agentOnly.Replayed, agentOnly.Unchanged, agentOnly.PermitToDenyCount));
    }
}

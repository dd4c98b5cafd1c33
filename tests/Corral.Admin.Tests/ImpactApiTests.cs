using System.Net;
using System.Text.Json;
using Corral.Admin.Tests.Support;
using Corral.Policy.Model;
using Corral.Replay;

namespace Corral.Admin.Tests;

/// <summary><c>GET /api/rules/{name}/impact</c>: what enforcing a watched rule would block, over the flows the gateway remembers.</summary>
public sealed class ImpactApiTests
{
    [Fact]
    public async Task Impact_of_a_watched_rule_counts_the_remembered_flows_it_would_block_without_changing_anything()
    {
        await using var live = await LiveHarness.StartAsync();
        Assert.Equal(200, await live.FlowAsync("other.test"));      // deny-internet in watch: let through, would be denied
        Assert.Equal(200, await live.FlowAsync("other.test"));
        Assert.Equal(200, await live.FlowAsync("www.example.test")); // allow-web: unaffected
        Assert.Equal(403, await live.FlowAsync("evil.test"));        // deny-threats: already blocked

        var impact = JsonDocument.Parse(await live.Http.GetStringAsync("/api/rules/deny-internet/impact")).RootElement;
        Assert.Equal("watch", impact.GetProperty("mode").GetString());
        var replay = impact.GetProperty("replay");
        // Counted as replay counts a flow log: each connection's decision and each request on it (the threat is refused
        // at its decision and carries no request).
        Assert.Equal(7, replay.GetProperty("records").GetInt64());
        Assert.Equal(4, replay.GetProperty("permit_to_deny").GetInt64());
        Assert.Equal(0, replay.GetProperty("deny_to_permit").GetInt64());
        var change = Assert.Single(replay.GetProperty("changes").EnumerateArray());
        var top = Assert.Single(change.GetProperty("top_destinations").EnumerateArray());
        Assert.Equal("other.test", top.GetProperty("host").GetString());
        Assert.Equal(4, top.GetProperty("count").GetInt64());
        Assert.Equal(RuleMode.Watch, live.Gateway.Policy.Current.Document.Rules.Single(r => r.Name == "deny-internet").Mode); // read-only

        // A window shorter than the flows' age leaves them out; an unknown rule is a 404; a silly window a 400.
        await Task.Delay(1500);
        var recent = JsonDocument.Parse(await live.Http.GetStringAsync("/api/rules/deny-internet/impact?window=1")).RootElement;
        Assert.Equal(0, recent.GetProperty("replay").GetProperty("records").GetInt64());
        Assert.Equal(HttpStatusCode.NotFound, (await live.Http.GetAsync("/api/rules/nope/impact")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await live.Http.GetAsync("/api/rules/deny-internet/impact?window=-5")).StatusCode);

    }

    [Fact]
    public async Task Impact_counts_every_request_a_promotion_would_refuse_as_replay_of_the_same_flow_log_does()
    {
        // Requests on kept-alive connections are decided one by one: before, the in-memory ring kept one entry per
        // connection, so impact counted 2 where replay of the flow log (and the enforced rule, afterwards) counted every request.
        await using var live = await LiveHarness.StartAsync(flowLog: true);
        Assert.Equal(new[] { 200, 200, 200, 200 }, await live.KeptAliveFlowAsync("other.test", 4));
        Assert.Equal(new[] { 200, 200 }, await live.KeptAliveFlowAsync("other.test", 2));
        Assert.Equal(new[] { 200, 200 }, await live.KeptAliveFlowAsync("www.example.test", 2));

        var problems = new LineProblems();
        var enforced = RuleImpact.Enforced(live.Gateway.Policy.Current, live.PolicyPath, "deny-internet", live.Reloader.Options).Policy!;
        ReplayReport fromLog = null!;
        await LiveHarness.EventuallyAsync(() =>
        {
            fromLog = new Replayer(enforced).Run(new FlowLogReader(problems).Read([live.FlowLogPath]));
            return Task.FromResult(fromLog.PermitToDenyCount >= 6);
        }, "the flow log to hold the six requests");

        var impact = JsonDocument.Parse(await live.Http.GetStringAsync("/api/rules/deny-internet/impact")).RootElement.GetProperty("replay");
        Assert.Equal(fromLog.PermitToDenyCount, impact.GetProperty("permit_to_deny").GetInt64());
        Assert.Equal(fromLog.Records, impact.GetProperty("records").GetInt64());

        // The flows list still shows one entry per connection.
        var flows = JsonDocument.Parse(await live.Http.GetStringAsync("/api/flows")).RootElement.GetProperty("flows");
        Assert.Equal(3, flows.GetArrayLength());
    }
}

using System.Net;
using System.Text.Json;
using Corral.Admin.Tests.Support;
using Corral.Policy.Model;

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
        Assert.Equal(4, replay.GetProperty("records").GetInt64());
        Assert.Equal(2, replay.GetProperty("permit_to_deny").GetInt64());
        Assert.Equal(0, replay.GetProperty("deny_to_permit").GetInt64());
        var change = Assert.Single(replay.GetProperty("changes").EnumerateArray());
        var top = Assert.Single(change.GetProperty("top_destinations").EnumerateArray());
        Assert.Equal("other.test", top.GetProperty("host").GetString());
        Assert.Equal(2, top.GetProperty("count").GetInt64());
        Assert.Equal(RuleMode.Watch, live.Gateway.Policy.Current.Document.Rules.Single(r => r.Name == "deny-internet").Mode); // read-only

        // A window shorter than the flows' age leaves them out; an unknown rule is a 404; a silly window a 400.
        await Task.Delay(1500);
        var recent = JsonDocument.Parse(await live.Http.GetStringAsync("/api/rules/deny-internet/impact?window=1")).RootElement;
        Assert.Equal(0, recent.GetProperty("replay").GetProperty("records").GetInt64());
        Assert.Equal(HttpStatusCode.NotFound, (await live.Http.GetAsync("/api/rules/nope/impact")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await live.Http.GetAsync("/api/rules/deny-internet/impact?window=-5")).StatusCode);

    }
}

using System.Net;
using Corral.Admin.Tests.Support;

namespace Corral.Admin.Tests;

/// <summary>
/// Runs alone: the Prometheus exporter listens to every meter named "Corral.Gateway" in the process, so gateways of
/// tests running in parallel would feed (and, when disposed, retire) the same metric streams.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MetricsCollection
{
    public const string Name = "metrics, one gateway in the process";
}

/// <summary>Health, readiness and the Prometheus series the issue names, counted from real flows and a real reload.</summary>
[Collection(MetricsCollection.Name)]
public sealed class MetricsTests
{
    [Fact]
    public async Task Health_readiness_and_metrics_answer()
    {
        await using var live = await LiveHarness.StartAsync();
        Assert.Equal(200, await live.FlowAsync("www.example.test"));
        Assert.Equal(403, await live.FlowAsync("evil.test"));
        Assert.Equal(200, await live.FlowAsync("other.test"));
        Assert.Equal("ok\n", await live.Http.GetStringAsync("/healthz"));
        Assert.Equal("ready\n", await live.Http.GetStringAsync("/readyz"));

        var metrics = await live.Http.GetStringAsync("/metrics");
        Assert.Matches(@"corral_gateway_flows_total\{[^}]*action=""permit""[^}]*enforced=""true""[^}]*rule=""allow-web""[^}]*\} [1-9]", metrics);
        Assert.Matches(@"corral_gateway_flows_total\{[^}]*action=""deny""[^}]*enforced=""true""[^}]*rule=""deny-threats""[^}]*\} [1-9]", metrics);
        Assert.Matches(@"corral_gateway_flows_total\{[^}]*action=""deny""[^}]*enforced=""false""[^}]*rule=""deny-internet""[^}]*\} [1-9]", metrics);
        Assert.Matches(@"corral_gateway_decision_duration_seconds_bucket\{[^}]*le=""1E-05""[^}]*\} \d+|corral_gateway_decision_duration_seconds_bucket\{[^}]*le=""1e-05""[^}]*\} \d+", metrics);
        Assert.Contains("corral_gateway_decision_duration_seconds_count", metrics);
        Assert.Matches($@"corral_gateway_policy_info\{{[^}}]*hash=""{live.Hash}""", metrics);
        Assert.Contains("corral_gateway_connections_active", metrics);
        Assert.Matches(@"corral_gateway_traffic_down_bytes_total(\{[^}]*\})? [1-9]", metrics);
        Assert.Matches(@"corral_gateway_traffic_up_bytes_total(\{[^}]*\})? [1-9]", metrics);
        // The runtime's own: what an operator reads beside a latency spike (collections, pauses, allocation).
        Assert.Matches(@"dotnet_gc_heap_total_allocated_bytes_total(\{[^}]*\})? [1-9]", metrics);
        Assert.Contains("dotnet_gc_collections_total", metrics);

        // A reload is counted.
        using var put = await live.Http.SendAsync(live.Authorized(HttpMethod.Put, "/api/policy", new StringContent(LiveHarness.PolicyText.Replace("mode: watch", "mode: enforce"))));
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        Assert.Matches(@"corral_gateway_policy_reloads_total\{[^}]*source=""api""[^}]*\} [1-9]", await live.Http.GetStringAsync("/metrics"));
    }

    [Fact]
    public async Task DNS_verdicts_are_counted_and_listed_with_the_flows()
    {
        await using var live = await LiveHarness.StartAsync(dns: true);
        using var udp = new System.Net.Sockets.UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        // A query for c2.evil.test (a threat-feed name), id 0x4242, type A.
        byte[] query = [0x42, 0x42, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 2, (byte)'c', (byte)'2', 4, (byte)'e', (byte)'v', (byte)'i', (byte)'l', 4, (byte)'t', (byte)'e', (byte)'s', (byte)'t', 0, 0, 1, 0, 1];
        await udp.SendAsync(query, live.Gateway.DnsEndPoint!);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var answer = await udp.ReceiveAsync(timeout.Token);
        Assert.Equal(3, answer.Buffer[3] & 0x0F); // NXDOMAIN

        var metrics = await live.Http.GetStringAsync("/metrics");
        Assert.Matches(@"corral_gateway_dns_queries_total\{[^}]*action=""deny""[^}]*rule=""deny-threats""[^}]*\} [1-9]", metrics);
        var flows = await live.GetJsonAsync("/api/flows?limit=50");
        var dns = flows.GetProperty("flows").EnumerateArray().Single(f => f.GetProperty("event").GetString() == "dns");
        Assert.Equal("c2.evil.test", dns.GetProperty("host").GetString());
        Assert.Equal("deny-threats", dns.GetProperty("rule").GetString());
        Assert.Equal("NXDOMAIN", dns.GetProperty("rcode").GetString());
    }
}

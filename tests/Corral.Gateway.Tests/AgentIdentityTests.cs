using System.Text;
using System.Text.Json;
using Corral.Policy.Compilation;
using Corral.Testing;

namespace Corral.Gateway.Tests;

/// <summary>
/// Agents on the explicit listener, over real sockets: a token names the agent every record of the flow carries; a
/// missing, wrong or misplaced token gets a 407 the agent can read and a record; the header never goes upstream.
/// </summary>
public sealed class AgentIdentityTests
{
    private const string InterpreterToken = "corral-agent-test-interpreter-0001";
    private const string RemoteToken = "corral-agent-test-remote-0002";

    private static string Policy(string budget = "") => $$"""
        version: 1
        name: agents-test
        defaultAction: deny
        smartGroups:
          subnet: { cidrs: [127.0.0.0/8] }
        webGroups:
          tools: { domains: [tools.example.test] }
          web: { domains: [www.example.test] }
        agents:
          interpreter: { token-sha256: {{CompiledAgents.HashOf(InterpreterToken)}}, cidrs: [127.0.0.1/32]{{budget}} }
          remote: { token-sha256: {{CompiledAgents.HashOf(RemoteToken)}}, cidrs: [10.9.0.0/16] }
        rules:
          - { name: interpreter-tools, priority: 1, source: [interpreter], webGroups: [tools], action: permit, ports: [80, 8080] }
          - { name: subnet-web, priority: 2, source: [subnet], webGroups: [web], action: permit, ports: [80, 8080] }
        """;

    internal static GatewayHarness Start(LoopbackUpstream upstream, string budget = "") =>
        GatewayHarness.Custom(Policy(budget), $"{upstream.EndPoint.Address} tools.example.test www.example.test\n");

    internal static string Basic(string user, string token) => "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{token}"));

    internal static async Task<(int Status, string Head, string Body)> GetAsync(GatewayHarness gw, string host, string? authorization, string path = "/x")
    {
        using var tcp = await gw.RawAsync();
        var stream = tcp.GetStream();
        var auth = authorization is null ? "" : $"Proxy-Authorization: {authorization}\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET http://{host}{path} HTTP/1.1\r\nHost: {host}\r\n{auth}Connection: close\r\n\r\n"));
        return await RawHttp.ReadResponseAsync(stream);
    }

    private static async Task<JsonElement> DecisionAsync(GatewayHarness gw, string url) =>
        (await gw.FlowAsync(r => r.TryGetProperty("url", out var u) && u.GetString() == url)).Decision;

    [Fact]
    public async Task A_bearer_or_basic_token_names_the_agent_in_every_record_and_the_header_never_goes_upstream()
    {
        await using var upstream = LoopbackUpstream.Start(80);
        await using var gw = Start(upstream);

        var bearer = await GetAsync(gw, "tools.example.test", "Bearer " + InterpreterToken, "/bearer");
        var basic = await GetAsync(gw, "tools.example.test", Basic("interpreter", InterpreterToken), "/basic");
        Assert.Equal((200, 200), (bearer.Status, basic.Status));

        string[] heads;
        lock (upstream.Requests) heads = upstream.Heads.ToArray();
        Assert.Equal(2, heads.Length);
        Assert.All(heads, h => Assert.DoesNotContain("Proxy-Authorization", h, StringComparison.OrdinalIgnoreCase));
        Assert.All(heads, h => Assert.DoesNotContain(InterpreterToken, h, StringComparison.Ordinal));

        foreach (var path in new[] { "/bearer", "/basic" })
        {
            var (decision, close) = await gw.FlowAsync(r => r.TryGetProperty("url", out var u) && u.GetString() == "http://tools.example.test" + path);
            Assert.Equal(("interpreter", "interpreter-tools"), (decision.GetProperty("agent").GetString(), decision.GetProperty("rule").GetString()));
            Assert.Equal("interpreter", close.GetProperty("agent").GetString());
        }
        var records = gw.ReadRecords();
        Assert.Contains(records, r => r.GetProperty("event").GetString() == "request" && r.GetProperty("agent").GetString() == "interpreter");
        // The token is in no record and no log line.
        Assert.DoesNotContain(InterpreterToken, File.ReadAllText(gw.FlowLogPath), StringComparison.Ordinal);
        Assert.DoesNotContain(gw.Logs.Lines, l => l.Message.Contains(InterpreterToken, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_missing_token_gets_407_where_only_an_agent_rule_would_admit_and_passes_where_a_subnet_rule_does()
    {
        await using var upstream = LoopbackUpstream.Start(80);
        await using var gw = Start(upstream);

        var refused = await GetAsync(gw, "tools.example.test", null, "/no-token");
        Assert.Equal(407, refused.Status);
        Assert.Contains("Proxy-Authenticate: Basic realm=\"corral\"", refused.Head);
        Assert.Contains("Proxy-Authenticate: Bearer realm=\"corral\"", refused.Head);
        Assert.Contains("X-Corral-Check: agent-unauthenticated", refused.Head);
        Assert.Contains("Proxy-Authorization: Bearer TOKEN", refused.Body);
        var decision = await DecisionAsync(gw, "http://tools.example.test/no-token");
        Assert.Equal("agent-unauthenticated", decision.GetProperty("check").GetString());
        Assert.False(decision.TryGetProperty("agent", out _));

        // The subnet's own rule admits the address without a token: the policy says so.
        var subnet = await GetAsync(gw, "www.example.test", null, "/subnet");
        Assert.Equal(200, subnet.Status);
        Assert.Equal("subnet-web", (await DecisionAsync(gw, "http://www.example.test/subnet")).GetProperty("rule").GetString());
        lock (upstream.Requests) Assert.Equal(["GET /subnet HTTP/1.1"], upstream.Requests);
    }

    [Fact]
    public async Task A_wrong_token_or_a_token_from_outside_its_agents_cidrs_gets_407_even_where_a_subnet_rule_would_admit()
    {
        await using var upstream = LoopbackUpstream.Start(80);
        await using var gw = Start(upstream);

        var cases = new (string Path, string Authorization, string Reason)[]
        {
            ("/wrong", "Bearer " + InterpreterToken + "-not", "not one of this policy's agents'"),
            ("/wrong-user", Basic("remote", InterpreterToken), "not one of this policy's agents'"),
            ("/garbage", "Negotiate abc", "neither"),
            ("/outside", "Bearer " + RemoteToken, "outside the agent's CIDRs"), // remote's CIDRs are 10.9.0.0/16; the test connects from 127.0.0.1
        };
        foreach (var (path, authorization, reason) in cases)
        {
            var response = await GetAsync(gw, "www.example.test", authorization, path);
            Assert.Equal(407, response.Status);
            Assert.Contains(reason, response.Body);
            Assert.DoesNotContain(InterpreterToken, response.Body);
            Assert.Equal("agent-unauthenticated", (await DecisionAsync(gw, "http://www.example.test" + path)).GetProperty("check").GetString());
        }
        // A CONNECT is read the same way.
        using (var tcp = await gw.RawAsync())
        {
            var stream = tcp.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"CONNECT tools.example.test:8080 HTTP/1.1\r\nHost: tools.example.test:8080\r\nProxy-Authorization: Bearer {RemoteToken}\r\n\r\n"));
            var connect = await RawHttp.ReadResponseAsync(stream);
            Assert.Equal(407, connect.Status);
        }
        lock (upstream.Requests) Assert.Empty(upstream.Requests);
        Assert.Equal(0, upstream.Connections);
    }

    [Fact]
    public async Task A_connect_tunnel_with_a_token_is_the_agents_flow_and_the_tunnelled_request_carries_no_proxy_header()
    {
        await using var upstream = LoopbackUpstream.Start(8080);
        await using var gw = Start(upstream);
        using var tcp = await gw.RawAsync();
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"CONNECT tools.example.test:8080 HTTP/1.1\r\nHost: tools.example.test:8080\r\nProxy-Authorization: {Basic("interpreter", InterpreterToken)}\r\n\r\n"));
        var established = await RawHttp.ReadResponseAsync(stream);
        Assert.Equal(200, established.Status);
        await stream.WriteAsync("GET /in-tunnel HTTP/1.1\r\nHost: tools.example.test:8080\r\nConnection: close\r\n\r\n"u8.ToArray());
        var response = await RawHttp.ReadResponseAsync(stream);
        Assert.Equal(200, response.Status);
        var (decision, _) = await gw.FlowAsync(r => r.TryGetProperty("method", out var m) && m.GetString() == "CONNECT");
        Assert.Equal(("interpreter", "interpreter-tools"), (decision.GetProperty("agent").GetString(), decision.GetProperty("rule").GetString()));
        lock (upstream.Requests) Assert.DoesNotContain(upstream.Heads, h => h.Contains("Proxy-", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public async Task An_agent_over_its_requests_a_minute_gets_429_and_a_record_while_the_subnet_is_unaffected()
    {
        await using var upstream = LoopbackUpstream.Start(80);
        await using var gw = Start(upstream, ", budget: { requests-per-minute: 2 }");
        var statuses = new List<int>();
        for (var i = 0; i < 3; i++) statuses.Add((await GetAsync(gw, "tools.example.test", "Bearer " + InterpreterToken, $"/n{i}")).Status);
        Assert.Equal([200, 200, 429], statuses);
        var over = await GetAsync(gw, "tools.example.test", "Bearer " + InterpreterToken, "/n3");
        Assert.Equal(429, over.Status);
        Assert.Contains("X-Corral-Check: agent-budget", over.Head);
        Assert.Contains("over its budget of 2 requests a minute", over.Body);
        var decision = await DecisionAsync(gw, "http://tools.example.test/n3");
        Assert.Equal(("agent-budget", "interpreter"), (decision.GetProperty("check").GetString(), decision.GetProperty("agent").GetString()));
        Assert.Equal(200, (await GetAsync(gw, "www.example.test", null, "/anonymous")).Status);
        lock (upstream.Requests) Assert.Equal(3, upstream.Requests.Count);
    }

    [Fact]
    public async Task An_agent_over_its_upstream_bytes_an_hour_is_refused_before_the_body_goes_upstream()
    {
        await using var upstream = LoopbackUpstream.Start(80);
        await using var gw = Start(upstream, ", budget: { upstream-bytes-per-hour: 1KiB }");
        using var tcp = await gw.RawAsync();
        var stream = tcp.GetStream();
        async Task<(int Status, string Head, string Body)> PostAsync(int size, string path)
        {
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"POST http://tools.example.test{path} HTTP/1.1\r\nHost: tools.example.test\r\n" +
                $"Proxy-Authorization: Bearer {InterpreterToken}\r\nContent-Length: {size}\r\n\r\n" + new string('a', size)));
            return await RawHttp.ReadResponseAsync(stream);
        }
        Assert.Equal(200, (await PostAsync(700, "/first")).Status);
        var refused = await PostAsync(700, "/second"); // 700 more would pass 1 KiB in the hour
        Assert.Equal(429, refused.Status);
        Assert.Contains("over its budget of 1024 bytes sent upstream an hour", refused.Body);
        lock (upstream.Requests) Assert.Equal(["POST /first HTTP/1.1"], upstream.Requests);
        var records = await gw.WaitForRecordsAsync(rs => rs.Any(r => r.GetProperty("event").GetString() == "request" && r.TryGetProperty("check", out _)));
        var request = records.Single(r => r.GetProperty("event").GetString() == "request" && r.TryGetProperty("check", out _));
        Assert.Equal(("agent-budget", "interpreter"), (request.GetProperty("check").GetString(), request.GetProperty("agent").GetString()));
    }
}

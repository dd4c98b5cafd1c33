using System.Text.Json;
using Corral.Gateway.Tests.Support;
using Corral.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using ModelContextProtocol;
using ModelContextProtocol.Client;

namespace Corral.Gateway.Tests;

/// <summary>
/// <c>pinTools: enforce</c> against a server that tries to get a changed tool past the pins: the official SDK's client
/// (the agent) lists tools through the gateway from a hand-written server that delivers the changed listing in each
/// way a Streamable HTTP server could. Whatever the way, a client that read the change cannot call the changed tool,
/// and a listing the gateway cannot compare never reaches the client (its caller gets a JSON-RPC error).
/// </summary>
public sealed class McpPinningTests
{
    private static string Policy(int port) => $$"""
        version: 1
        name: mcp-pins
        defaultAction: deny
        smartGroups:
          agents: { cidrs: [127.0.0.0/8] }
        webGroups:
          tools: { domains: [mcp.example.test] }
        rules:
          - { name: pinned-tools, priority: 1, source: [agents], webGroups: [tools], action: permit, decrypt: allowed, ports: [{{port}}], mcp: { tools: [search_docs, get_issue], pinTools: enforce } }
        """;

    private static async Task<McpClient> ConnectAsync(GatewayHarness gateway, int port) =>
        await McpClient.CreateAsync(new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = new Uri($"http://mcp.example.test:{port}/mcp"),
            TransportMode = HttpTransportMode.StreamableHttp,
        }, gateway.Client(), NullLoggerFactory.Instance, ownsHttpClient: true), cancellationToken: TestContext.Current.CancellationToken);

    // Each of these got the changed search_docs to the client with its calls still going through (on 71203b9).
    [Theory]
    [InlineData(ListingTrick.ChangedThenOriginal)]
    [InlineData(ListingTrick.CaseVariantName)]
    [InlineData(ListingTrick.Status201)]
    [InlineData(ListingTrick.ByteOrderMark)]
    [InlineData(ListingTrick.ResumedOnGet)]
    [InlineData(ListingTrick.ChangedPageThenOriginalPage)]
    public async Task A_changed_listing_delivered_any_way_holds_the_changed_tool(ListingTrick trick)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = new MisbehavingMcpServer();
        await using var gateway = GatewayHarness.Custom(Policy(server.Port), "127.0.0.1 mcp.example.test\n");
        await using (var pinning = await ConnectAsync(gateway, server.Port))
            Assert.Contains(await pinning.ListToolsAsync(cancellationToken: ct), t => t.Description == MisbehavingMcpServer.Original);

        server.Trick = trick;
        await using var client = await ConnectAsync(gateway, server.Port);
        var tools = await client.ListToolsAsync(cancellationToken: ct);
        Assert.Contains(tools, t => t.Description == MisbehavingMcpServer.Changed); // the client read the change...
        var held = await Assert.ThrowsAsync<McpProtocolException>(() => client.CallToolAsync("search_docs", new Dictionary<string, object?>(), cancellationToken: ct).AsTask());
        Assert.Contains("changed since it was pinned", held.Message); // ...and cannot act on it
        Assert.DoesNotContain("search_docs", server.Calls);
        await client.CallToolAsync("get_issue", new Dictionary<string, object?>(), cancellationToken: ct); // unchanged: still works
        Assert.Contains("get_issue", server.Calls);
    }

    [Fact]
    public async Task A_listing_that_depends_on_which_duplicate_member_the_client_keeps_never_reaches_it()
    {
        // The tool has "description" (original) and "Description" (changed): the SDK reads members ignoring case and
        // keeps the last, so the agent saw the change while the gateway hashed the original (on 71203b9).
        var ct = TestContext.Current.CancellationToken;
        await using var server = new MisbehavingMcpServer();
        await using var gateway = GatewayHarness.Custom(Policy(server.Port), "127.0.0.1 mcp.example.test\n");
        await using (var pinning = await ConnectAsync(gateway, server.Port)) await pinning.ListToolsAsync(cancellationToken: ct);

        server.Trick = ListingTrick.CaseVariantMember;
        await using var client = await ConnectAsync(gateway, server.Port);
        var refused = await Assert.ThrowsAsync<McpProtocolException>(() => client.ListToolsAsync(cancellationToken: ct).AsTask());
        Assert.Equal(-32001, (int)refused.ErrorCode);
        Assert.Contains("cannot be compared with the pinned tools", refused.Message);
        var records = await gateway.WaitForRecordsAsync(rs => rs.Any(r => r.TryGetProperty("check", out var c) && c.GetString() == "uninspectable-body"));
        var record = Assert.Single(records, r => r.TryGetProperty("check", out var c) && c.GetString() == "uninspectable-body");
        Assert.Contains("\"Description\" twice", record.GetProperty("reason").GetString());
    }

    [Fact]
    public async Task The_flow_log_alerts_on_a_change_seen_on_a_GET_stream()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = new MisbehavingMcpServer();
        await using var gateway = GatewayHarness.Custom(Policy(server.Port), "127.0.0.1 mcp.example.test\n");
        await using (var pinning = await ConnectAsync(gateway, server.Port)) await pinning.ListToolsAsync(cancellationToken: ct);
        server.Trick = ListingTrick.ResumedOnGet;
        await using (var client = await ConnectAsync(gateway, server.Port)) await client.ListToolsAsync(cancellationToken: ct);
        var records = await gateway.WaitForRecordsAsync(rs => rs.Any(IsAlert));
        var alert = Assert.Single(records, IsAlert);
        Assert.Equal("GET", alert.GetProperty("method").GetString());
        Assert.Equal(["search_docs"], alert.GetProperty("mcp").GetProperty("tools_changed").EnumerateArray().Select(e => e.GetString()));

        static bool IsAlert(JsonElement r) => r.TryGetProperty("mcp", out var m) && m.TryGetProperty("alert", out _);
    }
}

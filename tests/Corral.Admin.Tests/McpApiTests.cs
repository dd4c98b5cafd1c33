using System.Net;
using System.Text.Json;
using Corral.Admin.Tests.Support;
using Corral.Interception.Mcp;

namespace Corral.Admin.Tests;

/// <summary>The MCP pin endpoints: listing is open, accepting a server's changed tools needs the admin token.</summary>
public sealed class McpApiTests
{
    [Fact]
    public async Task Accepting_changed_tools_needs_the_token_and_clears_the_hold()
    {
        await using var live = await LiveHarness.StartAsync();
        var pins = live.Gateway.ToolPins;
        pins.Observe("mcp.example.test", new McpToolListing([new McpToolDefinition("search_docs", "aa")], true));
        pins.Observe("mcp.example.test", new McpToolListing([new McpToolDefinition("search_docs", "bb")], true));
        Assert.True(pins.IsHeld("mcp.example.test", "search_docs"));

        using (var anonymous = await live.Http.SendAsync(live.Authorized(HttpMethod.Post, "/api/mcp/servers/mcp.example.test/accept", null, token: null)))
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.True(pins.IsHeld("mcp.example.test", "search_docs"));

        var listed = JsonDocument.Parse(await live.Http.GetStringAsync("/api/mcp/pins")).RootElement;
        Assert.Equal("search_docs", listed[0].GetProperty("pending")[0].GetString());

        using (var accepted = await live.Http.SendAsync(live.Authorized(HttpMethod.Post, "/api/mcp/servers/mcp.example.test/accept", null)))
        {
            Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
            Assert.Contains("search_docs", await accepted.Content.ReadAsStringAsync());
        }
        Assert.False(pins.IsHeld("mcp.example.test", "search_docs"));
        using (var again = await live.Http.SendAsync(live.Authorized(HttpMethod.Post, "/api/mcp/servers/mcp.example.test/accept", null)))
            Assert.Equal(HttpStatusCode.NotFound, again.StatusCode);
    }
}

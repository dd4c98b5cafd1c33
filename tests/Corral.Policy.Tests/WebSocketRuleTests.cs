namespace Corral.Policy.Tests;

/// <summary>
/// <c>websocket: allow</c>: only on a permit that decrypts (the gateway carries only the messages it reads), never
/// off by default; a bad one is a located error.
/// </summary>
public sealed class WebSocketRuleTests
{
    private const string Permit = "action: permit, ports: [443], decrypt: allowed";

    [Fact]
    public void A_decrypting_permit_allows_WebSocket_and_the_default_is_off()
    {
        using var temp = new TempPolicy();
        var compiled = temp.Compile($"version: 1\nrules:\n  - {{ name: ws, priority: 1, {Permit}, websocket: allow }}\n  - {{ name: plain, priority: 2, {Permit} }}\n" +
                                    $"  - {{ name: said-no, priority: 3, {Permit}, websocket: deny }}\n");
        Assert.Equal([true, false, false], compiled.Rules.Select(r => r.AllowsWebSocket));
    }

    [Theory]
    [InlineData("action: permit, ports: [443], websocket: allow", "allow", "websocket-needs-decrypt")]
    [InlineData("action: deny, websocket: allow", "allow", "websocket-needs-decrypt")]
    [InlineData($"{Permit}, websocket: yes", "yes", "bad-value")]
    public void WebSocket_where_the_gateway_cannot_read_it_is_a_located_error(string fields, string value, string code)
    {
        using var temp = new TempPolicy();
        var line = $"  - {{ name: r, priority: 1, {fields} }}";
        var result = temp.Check($"version: 1\nrules:\n{line}\n");
        Assert.False(result.Succeeded);
        var d = Assert.Single(result.Diagnostics, d => d.Code == code);
        Assert.Equal((3, line.IndexOf("websocket: " + value, StringComparison.Ordinal) + 12), (d.Location.Line, d.Location.Column));
    }
}

using Corral.Policy.Compilation;
using Corral.Policy.Model;
using Corral.Testing;

namespace Corral.Policy.Tests;

/// <summary>The mcp section of a rule: loaded, validated with locations, decided per call, shown by explain and init.</summary>
public sealed class McpRulesTests : IDisposable
{
    private readonly TempPolicy _temp = new();

    public void Dispose() => _temp.Dispose();

    private static string Policy(string rule) => McpPolicies.WithRule(rule);

    private const string Decrypting = McpPolicies.DecryptingPermit;

    [Fact]
    public void A_decrypting_permit_loads_tools_methods_and_pinning()
    {
        var policy = _temp.Compile(Policy(Decrypting + "mcp: { tools: [search_docs, get_issue], pinTools: enforce, methods: [resources/read] } }"));
        var mcp = policy.FindRule("tools")!.Rule.Mcp!;
        Assert.Equal(["search_docs", "get_issue"], mcp.Tools.Select(t => t.Value));
        Assert.Equal(ToolPinning.Enforce, mcp.PinTools);
        Assert.Equal(["resources/read"], mcp.Methods.Select(t => t.Value));
        Assert.Equal((7, 134), (mcp.Tools[0].Location.Line, mcp.Tools[0].Location.Column));
    }

    [Theory]
    [InlineData("true", ToolPinning.Flag)]
    [InlineData("false", ToolPinning.Off)]
    [InlineData("enforce", ToolPinning.Enforce)]
    public void PinTools_takes_true_false_or_enforce(string word, ToolPinning expected) =>
        Assert.Equal(expected, _temp.Compile(Policy(Decrypting + $"mcp: {{ tools: [a], pinTools: {word} }} }}")).FindRule("tools")!.Rule.Mcp!.PinTools);

    [Fact]
    public void A_rule_without_mcp_has_none()
    {
        var rule = _temp.Compile(Policy(Decrypting + "logging: true }")).FindRule("tools")!;
        Assert.Null(rule.Rule.Mcp);
        Assert.Null(rule.Mcp);
    }

    [Theory]
    [InlineData("false", false, false)]
    [InlineData("true", true, false)]
    [InlineData("enforce", true, true)]
    public void The_compiled_section_pins_and_holds_as_pinTools_says(string word, bool pins, bool holds)
    {
        var mcp = _temp.Compile(Policy(Decrypting + $"mcp: {{ tools: [a], pinTools: {word} }} }}")).FindRule("tools")!.Mcp!;
        Assert.Equal((pins, holds), (mcp.PinsTools, mcp.HoldsChangedTools));
    }

    private (int Line, int Column, string Text) OnlyError(string yaml, string code)
    {
        var result = _temp.Check(yaml);
        Assert.False(result.Succeeded);
        var d = Assert.Single(result.Diagnostics, d => d.IsError && d.Code == code);
        Assert.Matches(@"corral\.yaml:\d+:\d+: error: ", d.ToString());
        return (d.Location.Line, d.Location.Column, d.ToString());
    }

    [Fact]
    public void An_mcp_section_on_a_rule_that_cannot_decrypt_is_an_error_at_the_section()
    {
        var e = OnlyError(Policy("  - { name: tools, priority: 1, source: [agents], webGroups: [tools], action: permit, ports: [443], mcp: { tools: [a] } }"), "mcp-needs-decrypt");
        Assert.Equal((7, 106), (e.Line, e.Column));
        Assert.Contains("add 'decrypt: allowed'", e.Text);
    }

    [Fact]
    public void An_mcp_section_on_a_deny_is_an_error() =>
        OnlyError(Policy("  - { name: tools, priority: 1, source: [agents], webGroups: [tools], action: deny, mcp: { tools: [a] } }"), "mcp-needs-decrypt");

    [Fact]
    public void An_unknown_key_in_mcp_is_located_and_corrected()
    {
        var e = OnlyError(Policy(Decrypting + "mcp: { tool: [a] } }"), "unknown-key");
        Assert.Equal((7, 126), (e.Line, e.Column));
        Assert.Contains("did you mean 'tools'?", e.Text);
    }

    [Fact]
    public void A_bad_pinning_word_is_an_error() =>
        Assert.Contains("'pinTools' must be false | true | enforce", OnlyError(Policy(Decrypting + "mcp: { tools: [a], pinTools: always } }"), "bad-value").Text);

    [Fact]
    public void An_mcp_section_that_is_not_a_mapping_is_an_error() =>
        OnlyError(Policy(Decrypting + "mcp: [a] }"), "bad-type");

    [Fact]
    public void A_tool_listed_twice_is_an_error() =>
        OnlyError(Policy(Decrypting + "mcp: { tools: [a, a] } }"), "duplicate-name");

    [Fact]
    public void Tools_call_in_methods_is_an_error_pointing_at_tools() =>
        Assert.Contains("decided by 'tools'", OnlyError(Policy(Decrypting + "mcp: { tools: [a], methods: [tools/call] } }"), "mcp-method-tools-call").Text);

    [Fact]
    public void Unknown_keys_in_mcp_are_still_reported_with_the_rest()
    {
        var result = _temp.Check(Policy(Decrypting + "mcp: { tools: [a], pin: true } }"));
        Assert.Contains(result.Diagnostics, d => d.Code == "unknown-key" && d.Message.Contains("'pin'"));
    }

    // The rule's mcp section as the gateway decides by it: compiled with the policy.
    private CompiledMcpRules Rules(string tools, string? methods = null) =>
        _temp.Compile(Policy(Decrypting + $"mcp: {{ tools: [{tools}]{(methods is null ? "" : $", methods: [{methods}]")} }} }}")).FindRule("tools")!.Mcp!;

    [Theory]
    [InlineData("initialize", null, true)]
    [InlineData("server/discover", null, true)]
    [InlineData("ping", null, true)]
    [InlineData("notifications/initialized", null, true)]
    [InlineData("tools/list", null, true)]
    [InlineData("resources/list", null, true)]
    [InlineData("prompts/list", null, true)]
    [InlineData("tools/call", "search_docs", true)]
    [InlineData("tools/call", "send_email", false)]
    [InlineData("tools/call", "Search_Docs", false)]
    [InlineData("tools/call", "", false)]
    [InlineData("tools/call", null, false)]
    [InlineData("resources/read", null, false)]
    [InlineData("prompts/get", null, false)]
    [InlineData("notifications", null, false)]
    public void Session_methods_pass_listed_tools_pass_and_everything_else_is_denied_by_default(string method, string? tool, bool allowed) =>
        Assert.Equal(allowed, Rules("search_docs").Decide(method, tool).Allowed);

    [Fact]
    public void Methods_lists_further_methods()
    {
        var rules = Rules("a", "resources/read");
        Assert.Equal(new McpCallDecision(true, McpCallReason.ListedMethod), rules.Decide("resources/read", null));
        Assert.False(rules.Decide("prompts/get", null).Allowed);
    }
}

using System.Net;
using System.Text;
using Corral.Policy.Compilation;
using Corral.Policy.Diagnostics;
using Corral.Policy.Model;

namespace Corral.Policy.Tests;

/// <summary>
/// The agents section: agents as rule sources beside smart groups, the one function that turns a Proxy-Authorization
/// header into an agent, and every mistake refused at its place.
/// </summary>
public sealed class AgentsSectionTests : IDisposable
{
    private readonly TempPolicy _temp = new();

    public void Dispose() => _temp.Dispose();

    private const string InterpreterToken = "corral-agent-interpreter-token-1";
    private const string BrowserToken = "corral-agent-browser-token-2";
    private static readonly string InterpreterHash = CompiledAgents.HashOf(InterpreterToken);
    private static readonly string BrowserHash = CompiledAgents.HashOf(BrowserToken);

    private static string Policy(string agents, string rules = "") => $$"""
        version: 1
        smartGroups:
          agent-subnet: { cidrs: [10.20.1.0/24] }
        webGroups:
          tools: { domains: [mcp.contoso.com] }
          docs: { domains: [learn.microsoft.com] }
        agents:
        {{agents}}
        rules:
          - { name: interpreter-tools, priority: 10, source: [code-interpreter], webGroups: [tools], action: permit }
          - { name: subnet-docs, priority: 20, source: [agent-subnet], webGroups: [docs], action: permit }
        {{rules}}
        """;

    private static string TwoAgents => $$"""
          code-interpreter: { token-sha256: {{InterpreterHash}}, cidrs: [10.20.1.0/24], budget: { requests-per-minute: 60, upstream-bytes-per-hour: 10MiB } }
          browser: { token-sha256: [{{BrowserHash}}], cidrs: [10.20.1.128/25] }
        """;

    private Diagnostic OnlyError(string yaml, string code)
    {
        var result = _temp.Check(yaml);
        Assert.False(result.Succeeded);
        return Assert.Single(result.Diagnostics, d => d.IsError && d.Code == code);
    }

    private static Flow To(string host, string? agent) =>
        new() { Source = IPAddress.Parse("10.20.1.200"), Host = host, Destinations = [IPAddress.Parse("198.18.0.10")], Port = 443, IsTls = true, Agent = agent };

    [Fact]
    public void An_agent_is_a_source_beside_smart_groups_and_matches_only_flows_identified_as_it()
    {
        var policy = _temp.Compile(Policy(TwoAgents));
        var interpreter = policy.Document.Agents[0];
        Assert.Equal(("code-interpreter", 60, 10L << 20), (interpreter.Name, interpreter.Budget!.RequestsPerMinute, interpreter.Budget.UpstreamBytesPerHour));
        Assert.Null(policy.Document.Agents[1].Budget);

        Assert.Equal("interpreter-tools", policy.Decide(To("mcp.contoso.com", "code-interpreter")).Rule?.Name);
        // The same address without the identity, or as another agent, is not the interpreter.
        Assert.Equal(RuleAction.Deny, policy.Decide(To("mcp.contoso.com", null)).Action);
        Assert.Equal(RuleAction.Deny, policy.Decide(To("mcp.contoso.com", "browser")).Action);
        Assert.Equal(RuleAction.Deny, policy.Decide(To("mcp.contoso.com", "no-such-agent")).Action);
        // An agent's flows still come from an address: the subnet's rules hold for them as for any client there.
        Assert.Equal("subnet-docs", policy.Decide(To("learn.microsoft.com", "browser")).Rule?.Name);
        // Before resolving as after.
        Assert.True(policy.DecideBeforeResolving(To("mcp.contoso.com", "code-interpreter")).NeedsAddresses);
        Assert.False(policy.DecideBeforeResolving(To("mcp.contoso.com", null)).NeedsAddresses);
        Assert.Contains("(agent browser)", string.Join("\n", policy.Explain(To("mcp.contoso.com", "browser")).Addresses[0].Steps.Select(s => s.Detail)));
    }

    [Fact]
    public void A_token_becomes_its_agent_by_bearer_or_basic_only_from_inside_the_agents_cidrs()
    {
        var agents = _temp.Compile(Policy(TwoAgents)).Agents;
        var inside = IPAddress.Parse("10.20.1.200");
        static string Basic(string user, string token) => "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{token}"));

        Assert.Equal("code-interpreter", agents.Identify("Bearer " + InterpreterToken, inside).Agent?.Name);
        Assert.Equal("code-interpreter", agents.Identify("bearer  " + InterpreterToken + " ", inside).Agent?.Name);
        Assert.Equal("browser", agents.Identify(Basic("browser", BrowserToken), inside).Agent?.Name);

        Assert.Equal(AgentAuthentication.Missing, agents.Identify(null, inside).Outcome);
        foreach (var wrong in new[]
                 {
                     "Bearer " + InterpreterToken + "x", "Bearer " + InterpreterToken.ToUpperInvariant(), "Bearer", "Bearer ", InterpreterToken,
                     "Token " + InterpreterToken, Basic("browser", InterpreterToken), Basic("", InterpreterToken), "Basic !!notbase64",
                     "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes(InterpreterToken)), "Bearer " + InterpreterHash,
                 })
            Assert.Equal(AgentAuthentication.Invalid, agents.Identify(wrong, inside).Outcome);

        // The browser's CIDRs are the subnet's upper half; its token from the lower half, or the interpreter's from elsewhere, is refused.
        var outside = agents.Identify("Bearer " + BrowserToken, IPAddress.Parse("10.20.1.5"));
        Assert.Equal(AgentAuthentication.OutsideCidrs, outside.Outcome);
        Assert.Null(outside.Agent);
        Assert.Equal(AgentAuthentication.OutsideCidrs, agents.Identify("Bearer " + InterpreterToken, IPAddress.Parse("198.18.0.1")).Outcome);
        // No reason quotes the token.
        Assert.DoesNotContain(InterpreterToken, outside.Reason + agents.Identify("Bearer " + InterpreterToken + "x", inside).Reason);
    }

    [Fact]
    public void Each_mistake_is_refused_at_its_place()
    {
        Assert.Equal(new SourceLocation(_temp.Directory + "/corral.yaml", 8, 37).ToString(),
            OnlyError(Policy("  code-interpreter: { token-sha256: abc123, cidrs: [10.20.1.0/24] }"), "bad-token-hash").Location.ToString());
        var pasted = OnlyError(Policy($"  code-interpreter: {{ token-sha256: {InterpreterToken}, cidrs: [10.20.1.0/24] }}"), "bad-token-hash");
        Assert.DoesNotContain(InterpreterToken, pasted.ToString()); // a token pasted in place of its hash is not repeated
        var duplicate = OnlyError(Policy($$"""
              code-interpreter: { token-sha256: {{InterpreterHash}}, cidrs: [10.20.1.0/24] }
              browser: { token-sha256: [{{BrowserHash}}, {{InterpreterHash.ToUpperInvariant()}}], cidrs: [10.20.1.0/24] }
            """), "duplicate-token");
        Assert.Equal((9, 95), (duplicate.Location.Line, duplicate.Location.Column));
        Assert.Contains("agent 'code-interpreter'", duplicate.Message);

        Assert.Equal(8, OnlyError(Policy($"  code-interpreter: {{ token-sha256: {InterpreterHash} }}"), "missing-key").Location.Line);
        Assert.Contains("cidrs", OnlyError(Policy($"  code-interpreter: {{ token-sha256: {InterpreterHash} }}"), "missing-key").Message);
        Assert.Contains("token-sha256", OnlyError(Policy("  code-interpreter: { cidrs: [10.20.1.0/24] }"), "missing-key").Message);
        Assert.Equal(8, OnlyError(Policy($"  code-interpreter: {{ token-sha256: {InterpreterHash}, cidrs: [10.20.1.0/33] }}"), "bad-cidr").Location.Line);
        Assert.Equal(8, OnlyError(Policy($"  code-interpreter: {{ token-sha256: {InterpreterHash}, cidrs: [10.20.1.0/24], budget: {{ requests-per-minute: 0 }} }}"), "bad-budget").Location.Line);
        Assert.Equal(8, OnlyError(Policy($"  code-interpreter: {{ token-sha256: {InterpreterHash}, cidrs: [10.20.1.0/24], budget: {{ upstream-bytes-per-hour: 10MB }} }}"), "bad-budget").Location.Line);
        Assert.Equal(8, OnlyError(Policy($"  code-interpreter: {{ token-sha256: {InterpreterHash}, cidrs: [10.20.1.0/24], tokens: x }}"), "unknown-key").Location.Line);

        var valid = $"  code-interpreter: {{ token-sha256: {InterpreterHash}, cidrs: [10.20.1.0/24] }}";
        var misspelt = OnlyError(Policy(valid, "  - { name: r, priority: 30, source: [code-interpeter], webGroups: [docs], action: permit }"), "unknown-group");
        Assert.Equal((12, 39), (misspelt.Location.Line, misspelt.Location.Column));
        Assert.Contains("did you mean 'code-interpreter'", misspelt.ToString());
        var asDestination = OnlyError(Policy(valid, "  - { name: r, priority: 30, source: [agent-subnet], destination: [code-interpreter], action: permit }"), "wrong-group-kind");
        Assert.Contains("an agent", asDestination.Message);
        var asWebGroup = OnlyError(Policy(valid, "  - { name: r, priority: 30, webGroups: [code-interpreter], action: permit }"), "wrong-group-kind");
        Assert.Contains("is an agent, not a web group", asWebGroup.Message);
        var clash = OnlyError(Policy("  agent-subnet: { token-sha256: " + InterpreterHash + ", cidrs: [10.20.1.0/24] }"), "duplicate-group");
        Assert.Contains("already defined as a smart group", clash.Message);
    }

    [Fact]
    public void The_example_in_docs_policy_md_is_a_policy_check_accepts_without_a_warning()
    {
        var docs = File.ReadAllText(Path.Combine(Corral.Testing.Repository.Root, "docs", "policy.md"));
        var section = docs[docs.IndexOf("## Agents: every flow names its agent", StringComparison.Ordinal)..];
        var start = section.IndexOf("```yaml\n", StringComparison.Ordinal) + "```yaml\n".Length;
        var yaml = section[start..section.IndexOf("```", start, StringComparison.Ordinal)];
        var result = _temp.Check(yaml);
        Assert.True(result.Succeeded, string.Join("\n", result.Diagnostics));
        Assert.Empty(result.Diagnostics);
        Assert.Equal(["code-interpreter", "browser"], result.Compiled!.Document.Agents.Select(a => a.Name).ToArray());
    }
}

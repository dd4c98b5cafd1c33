using System.Text.RegularExpressions;
using Corral.Policy.Compilation;
using Corral.Testing;

namespace Corral.Cli.Tests;

/// <summary>Agents on the command line: a token issued once with the line that holds its hash, and explain as an agent.</summary>
public sealed partial class AgentCommandTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void Agent_token_prints_a_new_token_once_and_the_policy_line_with_its_hash_which_check_accepts()
    {
        var first = CorralProgram.Run(_temp.Path, "agent", "token", "code-interpreter");
        var second = CorralProgram.Run(_temp.Path, "agent", "token", "code-interpreter");
        Assert.Equal((0, 0), (first.ExitCode, second.ExitCode));
        var token = TokenLine().Match(first.Stdout).Groups[1].Value;
        Assert.StartsWith("corral-agent-", token);
        Assert.DoesNotContain(token, second.Stdout); // a new token each time
        var line = PolicyLine().Match(first.Stdout).Groups[1].Value;
        Assert.Contains($"token-sha256: {CompiledAgents.HashOf(token)}", line);

        _temp.Write("corral.yaml", $"""
            version: 1
            webGroups:
              tools: {"{"} domains: [mcp.contoso.com] {"}"}
            agents:
            {line.Replace("AGENT-SUBNET", "10.20.1.0/24")}
            rules:
              - {"{"} name: tools, priority: 10, source: [code-interpreter], webGroups: [tools], action: permit {"}"}
            """);
        var check = CorralProgram.Run(_temp.Path, "check", "corral.yaml");
        Assert.True(check.ExitCode == 0, check.Stdout + check.Stderr);
        Assert.DoesNotContain(token, File.ReadAllText(Path.Combine(_temp.Path, "corral.yaml")));

        Assert.Equal(2, CorralProgram.Run(_temp.Path, "agent", "token", "bad name").ExitCode);
    }

    [Fact]
    public void Explain_as_an_agent_matches_its_rules_and_says_when_its_token_would_be_refused_from_the_source()
    {
        _temp.Write("corral.yaml", $$"""
            version: 1
            webGroups:
              tools: { domains: [mcp.contoso.com] }
            agents:
              code-interpreter: { token-sha256: {{CompiledAgents.HashOf("some-token-value")}}, cidrs: [10.20.1.0/24] }
            rules:
              - { name: tools, priority: 10, source: [code-interpreter], webGroups: [tools], action: permit }
            """);
        var asAgent = CorralProgram.Run(_temp.Path, "explain", "corral.yaml", "--src", "10.20.1.5", "--dst", "mcp.contoso.com", "--agent", "code-interpreter");
        Assert.Equal(0, asAgent.ExitCode);
        Assert.Contains("flow: 10.20.1.5 as agent code-interpreter -> mcp.contoso.com:443", asAgent.Stdout);
        Assert.Contains("verdict: permit by tools", asAgent.Stdout);
        var anonymous = CorralProgram.Run(_temp.Path, "explain", "corral.yaml", "--src", "10.20.1.5", "--dst", "mcp.contoso.com");
        Assert.Contains("verdict: deny", anonymous.Stdout);
        var json = CorralProgram.Run(_temp.Path, "explain", "corral.yaml", "--src", "10.20.1.5", "--dst", "mcp.contoso.com", "--agent", "code-interpreter", "--json");
        Assert.Contains("\"agent\":\"code-interpreter\"", json.Stdout);
        var outside = CorralProgram.Run(_temp.Path, "explain", "corral.yaml", "--src", "10.9.0.5", "--dst", "mcp.contoso.com", "--agent", "code-interpreter");
        Assert.Contains("outside the agent's CIDRs: the gateway answers 407 (agent-unauthenticated)", outside.Stdout);
        var unknown = CorralProgram.Run(_temp.Path, "explain", "corral.yaml", "--src", "10.20.1.5", "--dst", "mcp.contoso.com", "--agent", "code-interpeter");
        Assert.Equal(2, unknown.ExitCode);
        Assert.Contains("did you mean 'code-interpreter'", unknown.Stderr);
    }

    [GeneratedRegex(@"^token: (\S+)$", RegexOptions.Multiline)]
    private static partial Regex TokenLine();

    [GeneratedRegex(@"^(  [^ ].*token-sha256.*)$", RegexOptions.Multiline)]
    private static partial Regex PolicyLine();
}

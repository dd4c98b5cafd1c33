using System.Text.Json;
using Corral.Policy;
using Corral.Testing;

namespace Corral.Cli.Tests;

/// <summary>The mcp section of a rule as the command line shows it: <c>corral explain --mcp-tool</c> and <c>corral init --mcp-tool</c>.</summary>
public sealed class McpCommandTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private static string Policy(string rule) => McpPolicies.WithRule(rule);

    private const string Decrypting = McpPolicies.DecryptingPermit;

    [Fact]
    public void Explain_shows_the_mcp_verdict_for_a_tool()
    {
        _temp.Write("corral.yaml", Policy(Decrypting + "mcp: { tools: [search_docs], pinTools: true } }"));
        var denied = CorralProgram.Run(_temp.Path, "explain", "corral.yaml", "--src", "10.20.1.5", "--dst", "mcp.contoso.com", "--mcp-tool", "send_email");
        Assert.Equal(0, denied.ExitCode);
        Assert.Contains("mcp: tools/call send_email: deny (the tool is not listed in the rule's mcp.tools of rule 'tools')", denied.Stdout);
        var json = JsonDocument.Parse(CorralProgram.Run(_temp.Path, "explain", "corral.yaml", "--src", "10.20.1.5", "--dst", "mcp.contoso.com", "--mcp-tool", "search_docs", "--json").Stdout).RootElement;
        Assert.Equal("permit", json.GetProperty("mcp").GetProperty("action").GetString());
        Assert.Equal("search_docs", json.GetProperty("mcp").GetProperty("tool").GetString());
        Assert.Equal("tools", json.GetProperty("rule").GetString());
    }

    [Fact]
    public void Explain_says_a_rule_without_mcp_passes_any_tool()
    {
        _temp.Write("corral.yaml", Policy(Decrypting + "logging: true }"));
        var run = CorralProgram.Run(_temp.Path, "explain", "corral.yaml", "--src", "10.20.1.5", "--dst", "mcp.contoso.com", "--mcp-tool", "send_email");
        Assert.Contains("mcp: tools/call send_email: permit (rule 'tools' has no mcp section", run.Stdout);
    }

    [Fact]
    public void Init_with_mcp_tools_writes_a_checked_mcp_section_on_allow_tool_calls()
    {
        var init = CorralProgram.Run(_temp.Path, "init", "--template", "azure-foundry", "-o", "p.yaml", "--tool-fqdn", "mcp.contoso.com", "--mcp-tool", "search_docs", "--mcp-tool", "get_issue");
        Assert.Equal(0, init.ExitCode);
        var text = File.ReadAllText(Path.Combine(_temp.Path, "p.yaml"));
        Assert.Contains("mcp: { tools: [search_docs, get_issue], pinTools: true }", text);
        var result = PolicyChecker.CheckFile(Path.Combine(_temp.Path, "p.yaml"));
        Assert.True(result.Succeeded, string.Join("\n", result.Diagnostics));
        Assert.Equal(["search_docs", "get_issue"], result.Compiled!.FindRule("allow-tool-calls")!.Rule.Mcp!.Tools.Select(t => t.Value));
    }

    [Fact]
    public void Init_refuses_a_tool_name_that_would_break_the_yaml()
    {
        var init = CorralProgram.Run(_temp.Path, "init", "--template", "azure-foundry", "-o", "p.yaml", "--mcp-tool", "a], pinTools: false, x: [");
        Assert.NotEqual(0, init.ExitCode);
        Assert.Contains("--mcp-tool", init.Stderr);
    }
}

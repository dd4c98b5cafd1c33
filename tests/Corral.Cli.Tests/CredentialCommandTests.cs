using System.Text.Json;
using Corral.Testing;

namespace Corral.Cli.Tests;

/// <summary>Credentials as the command line shows them: explain names the credential a flow would get, never its value.</summary>
public sealed class CredentialCommandTests : IDisposable
{
    private const string Secret = "cli-secret-value-7f2e81";
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private void WritePolicy(string mode)
    {
        _temp.Write("mcp.token", Secret);
        _temp.Write("corral.yaml", $$"""
            version: 1
            smartGroups:
              agents: { cidrs: [10.20.1.0/24] }
            webGroups:
              mcp: { domains: [mcp.contoso.com] }
            rules:
              - { name: tools, priority: 10, source: [agents], webGroups: [mcp], action: permit, decrypt: allowed, mode: {{mode}} }
            credentials:
              mcp-token: { source: { file: mcp.token }, destinations: [mcp], header: Authorization }
            """);
    }

    [Fact]
    public void Explain_says_which_credential_a_decrypted_flow_gets_and_where_its_value_comes_from_never_the_value()
    {
        WritePolicy("enforce");
        var text = CorralProgram.Run(_temp.Path, "explain", "corral.yaml", "--src", "10.20.1.5", "--dst", "mcp.contoso.com");
        Assert.Equal(0, text.ExitCode);
        Assert.Contains("credential: mcp-token: the placeholder corral-cred-mcp-token in header Authorization becomes the value from file mcp.token", text.Stdout);
        var json = JsonDocument.Parse(CorralProgram.Run(_temp.Path, "explain", "corral.yaml", "--src", "10.20.1.5", "--dst", "mcp.contoso.com", "--json").Stdout).RootElement;
        var credential = Assert.Single(json.GetProperty("credentials").EnumerateArray());
        Assert.Equal(("mcp-token", true), (credential.GetProperty("name").GetString(), credential.GetProperty("injected").GetBoolean()));
        Assert.DoesNotContain(Secret, text.Stdout + text.Stderr);

        var other = CorralProgram.Run(_temp.Path, "explain", "corral.yaml", "--src", "10.20.1.5", "--dst", "evil.example");
        Assert.DoesNotContain("credential:", other.Stdout);
    }

    [Fact]
    public void Explain_says_a_watched_rule_puts_no_credential_in()
    {
        WritePolicy("watch");
        var run = CorralProgram.Run(_temp.Path, "explain", "corral.yaml", "--src", "10.20.1.5", "--dst", "mcp.contoso.com");
        Assert.Contains("credential: mcp-token: not put in (the rule is in watch mode, so the flow is spliced, not decrypted)", run.Stdout);
    }
}

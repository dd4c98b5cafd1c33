using Corral.Policy.Compilation;
using Corral.Testing;

namespace Corral.Terraform.Tests;

/// <summary>
/// Agents are the gateway's alone: Aviatrix sees addresses, so the module never lets through more than the policy does —
/// an agent-only permit is left out, a mixed one keeps its smart groups, and a deny of an agent denies its CIDRs.
/// </summary>
public sealed class AgentExportTests
{
    [Fact]
    public void Agent_permits_never_widen_on_aviatrix_and_agent_denies_cover_the_agents_cidrs()
    {
        using var dir = new TempFolder("corral-tf-");
        var yaml = $$"""
            version: 1
            smartGroups:
              subnet: { cidrs: [10.20.1.0/24] }
            webGroups:
              tools: { domains: [mcp.contoso.com] }
              docs: { domains: [learn.microsoft.com] }
            agents:
              interpreter: { token-sha256: {{CompiledAgents.HashOf("t1-token-value")}}, cidrs: [10.20.1.0/26] }
              browser: { token-sha256: {{CompiledAgents.HashOf("t2-token-value")}}, cidrs: [10.20.1.64/26] }
            rules:
              - { name: interpreter-tools, priority: 10, source: [interpreter], webGroups: [tools], action: permit }
              - { name: browser-no-tools, priority: 15, source: [browser], webGroups: [tools], action: deny }
              - { name: docs, priority: 20, source: [subnet, interpreter], webGroups: [docs], action: permit }
              - { name: deny-rest, priority: 100, source: [subnet], destination: [public-internet], action: deny }
            """;
        var path = Path.Combine(dir.Path, "corral.yaml");
        File.WriteAllText(path, yaml);
        var module = TerraformExporter.Export(FoundryPack.Compile(path));
        Assert.True(module.Succeeded);
        var warnings = module.Warnings.Where(w => w.Code == "agents-gateway-only").Select(w => w.Message).ToList();
        Assert.Equal(3, warnings.Count);
        Assert.Contains(warnings, w => w.Contains("'interpreter-tools' permits only agent(s) interpreter") && w.Contains("leaves the rule out"));
        Assert.Contains(warnings, w => w.Contains("'browser-no-tools' denies agent(s) browser"));
        Assert.Contains(warnings, w => w.Contains("'docs' permits agent(s) interpreter besides smart groups"));

        var dcf = module.Files.Single(f => f.Key.Contains("dcf", StringComparison.Ordinal)).Value;
        Assert.DoesNotContain("interpreter-tools", dcf); // an agent-only permit would be 'anywhere' on Aviatrix: left out
        Assert.Contains("browser-no-tools", dcf);
        var groups = string.Concat(module.Files.Select(f => f.Value));
        Assert.Contains("10.20.1.64/26", groups); // the denied agent's CIDRs, as a smart group
        Assert.DoesNotContain("10.20.1.0/26", groups); // the permitted agent's are not a source anywhere
    }
}

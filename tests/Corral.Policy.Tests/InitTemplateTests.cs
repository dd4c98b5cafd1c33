using Corral.Policy.Model;
using Corral.Policy.Templates;

namespace Corral.Policy.Tests;

/// <summary>`corral init --template azure-foundry` writes the reference pack, and it checks clean.</summary>
public sealed class InitTemplateTests
{
    private static string GoldenPath => Path.Combine(AppContext.BaseDirectory, "golden", "azure-foundry.yaml");

    [Fact]
    public void The_default_pack_matches_the_golden_file()
    {
        var rendered = AzureFoundryTemplate.Render(new AzureFoundryOptions()); // the default: every rule in watch mode
        if (Environment.GetEnvironmentVariable("CORRAL_UPDATE_GOLDEN") == "1")
        {
            var source = Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "golden", "azure-foundry.yaml");
            File.WriteAllText(source, rendered);
        }
        Assert.Equal(File.ReadAllText(GoldenPath), rendered);
    }

    [Fact]
    public void The_pack_has_the_references_groups_names_and_six_rules_in_order()
    {
        using var temp = new TempPolicy();
        foreach (var feed in AzureFoundryTemplate.ThreatFeedFiles) temp.Write(feed, AzureFoundryTemplate.FeedFileText("x"));
        var result = temp.Check(AzureFoundryTemplate.Render(new AzureFoundryOptions { Watch = false }));
        Assert.True(result.Succeeded);
        Assert.All(result.Diagnostics, d => Assert.Contains(d.Code, new[] { "service-tags-unresolved", "resolves-every-name", "no-interception-ca" }));
        var doc = result.Document!;
        Assert.Equal(
            ["deny-threat-intel", "allow-aca-fqdn", "allow-aca-svctag", "allow-tool-calls", "default-deny-internet", "deny-east-west"],
            result.Compiled!.Rules.Select(r => r.Name));
        Assert.Equal([RuleAction.Deny, RuleAction.Permit, RuleAction.Permit, RuleAction.Permit, RuleAction.Deny, RuleAction.Deny],
            result.Compiled.Rules.Select(r => r.Action));
        Assert.Equal([DecryptPolicy.NotAllowed, DecryptPolicy.NotAllowed, DecryptPolicy.NotAllowed, DecryptPolicy.Allowed, DecryptPolicy.NotAllowed, DecryptPolicy.NotAllowed],
            result.Compiled.Rules.Select(r => r.Decrypt));
        var platform = doc.WebGroups.Single(w => w.Name == "aca-requirements-fqdns").Domains.Select(d => d.Value.ToString());
        Assert.Equal(AzureFoundryTemplate.PlatformFqdns, platform);
        Assert.Equal(["AzureActiveDirectory", "MicrosoftContainerRegistry", "AzureFrontDoor.FirstParty", "AzureContainerRegistry"],
            doc.SmartGroups.Where(g => g.ServiceTag is not null).Select(g => g.ServiceTag!.Value));
    }

    [Fact]
    public void Parameters_reach_the_groups()
    {
        using var temp = new TempPolicy();
        foreach (var feed in AzureFoundryTemplate.ThreatFeedFiles) temp.Write(feed, "");
        var options = new AzureFoundryOptions
        {
            AgentSubnet = "10.50.2.0/24", SpokeCidrs = ["10.60.0.0/16", "10.61.0.0/16"], Region = "westeurope",
            ToolFqdns = ["mcp.fabrikam.com", "*.tools.fabrikam.com"],
        };
        var compiled = temp.Compile(AzureFoundryTemplate.Render(options));
        Assert.Equal("allow-tool-calls", compiled.Decide(Flows.To("10.50.2.9", "x.tools.fabrikam.com", 443, "198.18.0.1")).RuleOf());
        Assert.Equal("deny-east-west", compiled.Decide(Flows.To("10.50.2.9", null, 443, "10.61.3.3")).RuleOf());
        Assert.Equal("westeurope", compiled.Document.ServiceTags!.Region);
    }

    [Fact]
    public void Bad_parameters_are_refused() =>
        Assert.Equal(3, AzureFoundryTemplate.Validate(new AzureFoundryOptions { AgentSubnet = "10.0.0.1/8", SpokeCidrs = ["x"], ToolFqdns = ["*"] }).Count);
}

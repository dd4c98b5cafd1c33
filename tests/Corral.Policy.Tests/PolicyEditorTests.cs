using Corral.Policy.Loading;
using Corral.Policy.Model;
using Corral.Policy.Templates;

namespace Corral.Policy.Tests;

/// <summary>Writing a rule's mode back into the policy file changes that one value and nothing else.</summary>
public sealed class PolicyEditorTests
{
    private static RuleMode ModeOf(string text, string rule)
    {
        using var temp = new TempPolicy();
        foreach (var feed in AzureFoundryTemplate.ThreatFeedFiles) temp.Write(feed, "");
        var result = temp.Check(text);
        Assert.True(result.Succeeded, string.Join("\n", result.Diagnostics));
        return result.Document!.Rules.Single(r => r.Name == rule).Mode;
    }

    [Fact]
    public void Promoting_and_demoting_a_flow_style_rule_keeps_the_rest_of_the_file()
    {
        var pack = AzureFoundryTemplate.Render(new AzureFoundryOptions());
        var (watched, error) = PolicyEditor.SetRuleMode("p.yaml", pack, "default-deny-internet", RuleMode.Watch);
        Assert.Null(error);
        Assert.Equal(RuleMode.Watch, ModeOf(watched!, "default-deny-internet"));
        Assert.Equal(RuleMode.Enforce, ModeOf(watched!, "deny-east-west"));
        Assert.Equal(pack.Length + ", mode: watch".Length, watched!.Length);
        Assert.Contains("# 5. Everything else on the internet", watched);

        var (enforced, _) = PolicyEditor.SetRuleMode("p.yaml", watched, "default-deny-internet", RuleMode.Enforce);
        Assert.Equal(RuleMode.Enforce, ModeOf(enforced!, "default-deny-internet"));
        Assert.Equal(PolicyEditor.SetRuleMode("p.yaml", pack, "deny-east-west", RuleMode.Enforce).Text, pack); // already enforced: unchanged
    }

    [Fact]
    public void A_block_style_rule_gets_a_line_at_its_own_indentation()
    {
        const string text = """
            version: 1
            rules:
              # the catch-all
              - name: deny-all
                priority: 9   # last
                action: deny
            """;
        var (watched, _) = PolicyEditor.SetRuleMode("p.yaml", text, "deny-all", RuleMode.Watch);
        Assert.Contains("  - name: deny-all\n    mode: watch\n    priority: 9   # last", watched);
        Assert.Equal(RuleMode.Watch, ModeOf(watched!, "deny-all"));
        var (back, _) = PolicyEditor.SetRuleMode("p.yaml", watched!, "deny-all", RuleMode.Enforce);
        Assert.Contains("mode: enforce", back);
        Assert.Equal(RuleMode.Enforce, ModeOf(back!, "deny-all"));
    }

    [Fact]
    public void An_unknown_rule_or_an_unparseable_file_is_an_error()
    {
        Assert.Contains("no rule named 'nope'", PolicyEditor.SetRuleMode("p.yaml", "version: 1\nrules: []\n", "nope", RuleMode.Watch).Error);
        Assert.NotNull(PolicyEditor.SetRuleMode("p.yaml", "rules: [", "x", RuleMode.Watch).Error);
    }
}

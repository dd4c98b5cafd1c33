using System.Text;
using Corral.Policy.Editing;
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
        var pack = AzureFoundryTemplate.Render(new AzureFoundryOptions { Watch = false });
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

    private static IReadOnlyList<Rule> RulesOf(string text) => Loaded(text).Rules;

    /// <summary>The rules loaded from <paramref name="text"/> and the mode sites the loader recorded beside them.</summary>
    private static (IReadOnlyList<Rule> Rules, RuleModeSites Sites) Loaded(string text)
    {
        using var temp = new TempPolicy();
        foreach (var feed in AzureFoundryTemplate.ThreatFeedFiles) temp.Write(feed, "");
        File.WriteAllBytes(Path.Combine(temp.Directory, "corral.yaml"), Encoding.UTF8.GetBytes(text)); // a BOM as written
        var result = PolicyChecker.CheckFile(Path.Combine(temp.Directory, "corral.yaml"));
        Assert.True(result.Succeeded, string.Join("\n", result.Diagnostics));
        return (result.Document!.Rules, result.ModeSites);
    }

    private const string BlockStyle = """
        version: 1
        name: block
        defaultAction: deny
        rules:
          - name: deny-all
            priority: 9   # last
            action: deny
          - name: "quoted-watch"
            priority: 5
            mode: 'watch'
            action: deny
        """;

    public static TheoryData<string, bool> Texts => new()
    {
        { AzureFoundryTemplate.Render(new AzureFoundryOptions { Watch = false }), false },
        { AzureFoundryTemplate.Render(new AzureFoundryOptions { Watch = false }), true },
        { BlockStyle, false },
        { BlockStyle, true },
    };

    [Theory]
    [MemberData(nameof(Texts))]
    public void The_loaders_mode_sites_edit_exactly_as_parsing_the_text_does(string text, bool bom)
    {
        if (bom) text = "\uFEFF" + text;
        var (rules, sites) = Loaded(text);
        Assert.True(sites.AreOf(Encoding.UTF8.GetBytes(text)));
        Assert.False(sites.AreOf(Encoding.UTF8.GetBytes(text + " ")));
        var reparsed = PolicyEditor.SitesOf("p.yaml", text).Sites!;
        foreach (var rule in rules)
        {
            Assert.True(sites.TryGet(rule.Name, out var site));
            Assert.True(reparsed.TryGet(rule.Name, out var parsedSite));
            Assert.Equal(parsedSite, site);
            foreach (var mode in new[] { RuleMode.Watch, RuleMode.Enforce })
            {
                var parsed = PolicyEditor.SetRuleMode("p.yaml", text, rule.Name, mode).Text;
                Assert.Equal(parsed, PolicyEditor.SetRuleMode(text, site, mode));
                Assert.Equal(mode, RulesOf(parsed!).Single(r => r.Name == rule.Name).Mode);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Texts))]
    public void One_rules_mode_flipped_in_the_text_is_recognised_and_nothing_else_is(string text, bool bom)
    {
        if (bom) text = "\uFEFF" + text;
        var (rules, sites) = Loaded(text);
        string Flipped(string from, Rule rule) => PolicyEditor.SetRuleMode("p.yaml", from, rule.Name, rule.Mode == RuleMode.Watch ? RuleMode.Enforce : RuleMode.Watch).Text!;
        foreach (var rule in rules)
        {
            var after = Flipped(text, rule);
            Assert.True(PolicyEditor.TryFindModeChange(text, rules, sites, after, out var name, out var mode), rule.Name);
            Assert.Equal((rule.Name, rule.Mode == RuleMode.Watch ? RuleMode.Enforce : RuleMode.Watch), (name, mode));
        }
        // Two rules flipped, an unchanged text, another field changed, a mode written another way: none is one flip.
        var two = Flipped(Flipped(text, rules[0]), RulesOf(Flipped(text, rules[0])).Single(r => r.Name == rules[1].Name));
        Assert.False(PolicyEditor.TryFindModeChange(text, rules, sites, two, out _, out _));
        Assert.False(PolicyEditor.TryFindModeChange(text, rules, sites, text, out _, out _));
        Assert.False(PolicyEditor.TryFindModeChange(text, rules, sites, text.Replace("priority: 9", "priority: 8").Replace("priority: 6,", "priority: 7,"), out _, out _));
        Assert.False(PolicyEditor.TryFindModeChange(text, rules, sites, Flipped(text, rules[0]).Replace("mode: watch", "mode:  watch"), out _, out _));
        Assert.False(PolicyEditor.TryFindModeChange(text, rules, sites, text + "\n", out _, out _));
        // Rules of another (longer) text than the one compared: no match, and no out-of-range read.
        // (In the block-style text, 'watch' and enforce have the same length, so only the bound stops the read.)
        Assert.False(PolicyEditor.TryFindModeChange(text[..20], rules, sites, new string('x', 20), out _, out _));
    }

    [Theory]
    [MemberData(nameof(Texts))]
    public void An_editor_splices_at_the_sites_it_keeps_only_in_the_text_they_were_found_in(string text, bool bom)
    {
        if (bom) text = "\uFEFF" + text;
        var (rules, sites) = Loaded(text);
        var editor = new RuleModeEditor("p.yaml");
        editor.Remember(sites);
        // The same rules one line further down (every offset moved), and the text the sites are of: each edit is the parse's.
        var moved = (bom ? "\uFEFF" : "") + "# reviewed\n" + text.TrimStart('\uFEFF');
        foreach (var edited in new[] { moved, text, moved })
            foreach (var rule in rules)
            {
                var expected = PolicyEditor.SetRuleMode("p.yaml", edited, rule.Name, RuleMode.Watch);
                Assert.Equal(expected, editor.SetRuleMode(edited, Encoding.UTF8.GetBytes(edited), rule.Name, RuleMode.Watch));
            }
        Assert.Equal("p.yaml has no rule named 'nope'", editor.SetRuleMode(text, Encoding.UTF8.GetBytes(text), "nope", RuleMode.Watch).Error);
        Assert.Equal("p.yaml does not parse as a policy", editor.SetRuleMode("rules: [", "rules: ["u8, "x", RuleMode.Watch).Error);
    }

    [Fact]
    public void Adding_names_to_a_flow_style_web_group_appends_them_inside_the_brackets_and_keeps_everything_else()
    {
        var pack = AzureFoundryTemplate.Render(new AzureFoundryOptions { ToolFqdns = ["mcp.contoso.com"] });
        var (edited, error) = PolicyEditor.AddWebGroupDomains("p.yaml", pack, "foundry-tool-calls", ["*.pkgs.example.org", "docs.example.org", "mcp.contoso.com"]);
        Assert.Null(error);
        Assert.Contains("domains: [mcp.contoso.com, \"*.pkgs.example.org\", docs.example.org]", edited);
        Assert.Equal(pack.Length + ", \"*.pkgs.example.org\", docs.example.org".Length, edited!.Length); // the name already there is not added twice
        using var temp = new TempPolicy();
        foreach (var feed in AzureFoundryTemplate.ThreatFeedFiles) temp.Write(feed, "");
        var result = temp.Check(edited);
        Assert.True(result.Succeeded, string.Join("\n", result.Diagnostics));
        Assert.Equal(["mcp.contoso.com", "*.pkgs.example.org", "docs.example.org"],
            result.Document!.WebGroups.Single(g => g.Name == "foundry-tool-calls").Domains.Select(d => d.Value.ToString()).ToArray());
    }

    [Fact]
    public void Adding_names_to_a_block_style_list_adds_lines_after_the_last_item_and_its_comment()
    {
        const string text = """
            webGroups:
              tools:
                domains:
                  - a.example.org   # the first tool
                  - b.example.org   # keep this comment
                urls: []
            """;
        var (edited, error) = PolicyEditor.AddWebGroupDomains("p.yaml", text, "tools", ["*.c.example.org"]);
        Assert.Null(error);
        Assert.Equal(text.Replace("# keep this comment\n", "# keep this comment\n      - \"*.c.example.org\"\n"), edited);
        Assert.Equal("p.yaml has no web group named 'nope'", PolicyEditor.AddWebGroupDomains("p.yaml", text, "nope", ["x.org"]).Error);
    }
}

using System.Net;
using System.Text;
using Corral.Policy.Compilation;
using Corral.Policy.Editing;
using Corral.Policy.Model;
using Corral.Policy.Templates;

namespace Corral.Policy.Tests;

/// <summary>
/// <see cref="RuleModeEditor.WithRuleMode"/> (the reload's fast path for a promotion) must give exactly what compiling
/// the edited text gives: the same hash, the same rules, the same verdict for every flow.
/// </summary>
public sealed class RuleModeDerivationTests
{
    [Fact]
    public void Every_rule_of_the_Foundry_pack_in_either_mode_derives_what_a_full_compile_gives()
    {
        using var temp = new TempPolicy();
        foreach (var feed in AzureFoundryTemplate.ThreatFeedFiles) temp.Write(feed, AzureFoundryTemplate.FeedFileText(Path.GetFileName(feed)));
        var text = AzureFoundryTemplate.Render(new AzureFoundryOptions { AgentSubnet = "10.20.0.0/16" });
        var basis = temp.Compile(text);
        var flows = FlowsFor(basis.Document).ToList();
        var compared = 0;
        foreach (var rule in basis.Document.Rules)
        {
            foreach (var mode in new[] { RuleMode.Watch, RuleMode.Enforce })
            {
                var (edited, error) = PolicyEditor.SetRuleMode(Path.Combine(temp.Directory, "corral.yaml"), text, rule.Name, mode);
                Assert.Null(error);
                var derived = RuleModeEditor.WithRuleMode(basis, rule.Name, mode, Encoding.UTF8.GetBytes(text), Encoding.UTF8.GetBytes(edited!));
                Assert.NotNull(derived);
                var full = temp.Compile(edited!);
                AssertSame(full, derived!, flows);
                // The edit moved the text after it: a derived policy says so (its locations are the text's before the edit).
                Assert.True(derived!.IsDerived);
                Assert.False(full.IsDerived);
                compared++;
            }
        }
        Assert.Equal(2 * basis.Document.Rules.Count, compared);
        Assert.True(flows.Count > 50, $"only {flows.Count} flows");
    }

    [Fact]
    public void A_block_style_rule_whose_edit_adds_a_line_derives_the_same_hash_and_verdicts()
    {
        const string text = """
            version: 1
            defaultAction: deny
            smartGroups:
              agents: { cidrs: [10.0.0.0/8] }
            webGroups:
              tools: { domains: ["*.tools.example"] }
            rules:
              - name: allow-tools
                priority: 1
                source: [agents]
                webGroups: [tools]
                action: permit
              - name: deny-rest
                priority: 9
                action: deny
            """;
        using var temp = new TempPolicy();
        var basis = temp.Compile(text);
        var (edited, _) = PolicyEditor.SetRuleMode("corral.yaml", text, "deny-rest", RuleMode.Watch);
        var derived = RuleModeEditor.WithRuleMode(basis, "deny-rest", RuleMode.Watch, Encoding.UTF8.GetBytes(text), Encoding.UTF8.GetBytes(edited!));
        var full = temp.Compile(edited!);
        AssertSame(full, derived!, FlowsFor(basis.Document).ToList());
        Assert.NotEqual(basis.Hash, derived!.Hash);
        // The watched catch-all lets an unknown host through, flagged not enforced: the derivation changed a verdict.
        var verdict = derived.Decide(Flows.To("10.1.2.3", "unknown.example", 443, "198.51.100.7"));
        Assert.Equal(("deny-rest", false), (verdict.RuleOf(), verdict.Enforced));
        Assert.True(basis.Decide(Flows.To("10.1.2.3", "unknown.example", 443, "198.51.100.7")).Enforced);
    }

    [Fact]
    public void A_text_that_is_not_the_one_compiled_or_an_unknown_rule_gives_no_derivation()
    {
        using var temp = new TempPolicy();
        const string text = "version: 1\nrules:\n  - { name: deny-all, priority: 1, action: deny }\n";
        var basis = temp.Compile(text);
        var (edited, _) = PolicyEditor.SetRuleMode("corral.yaml", text, "deny-all", RuleMode.Watch);
        var moved = text + "# the file changed on disk since it was compiled\n";
        Assert.Null(RuleModeEditor.WithRuleMode(basis, "deny-all", RuleMode.Watch, Encoding.UTF8.GetBytes(moved), Encoding.UTF8.GetBytes(edited!)));
        Assert.Null(RuleModeEditor.WithRuleMode(basis, "nope", RuleMode.Watch, Encoding.UTF8.GetBytes(text), Encoding.UTF8.GetBytes(edited!)));
        Assert.NotNull(RuleModeEditor.WithRuleMode(basis, "deny-all", RuleMode.Watch, Encoding.UTF8.GetBytes(text), Encoding.UTF8.GetBytes(edited!)));
    }

    [Fact]
    public void An_editor_derives_a_mode_flipped_in_the_text_in_force_and_nothing_from_another_text()
    {
        using var temp = new TempPolicy();
        const string text = "version: 1\nrules:\n  - { name: allow-all, priority: 1, action: permit }\n  - { name: deny-all, priority: 2, action: deny }\n";
        var basis = temp.Compile(text);
        var editor = new RuleModeEditor(Path.Combine(temp.Directory, "corral.yaml")); // no sites kept: it parses the text
        var flipped = PolicyEditor.SetRuleMode("corral.yaml", text, "deny-all", RuleMode.Watch).Text!;

        var derived = editor.DeriveModeChange(basis, text, flipped, Encoding.UTF8.GetBytes(flipped));
        Assert.NotNull(derived);
        Assert.True(derived.IsDerived);
        Assert.Equal(temp.Compile(flipped).Hash, derived.Hash);
        Assert.Equal(RuleMode.Watch, derived.Document.Rules.Single(r => r.Name == "deny-all").Mode);
        Assert.Same(basis.Document.Rules.Single(r => r.Name == "allow-all"), derived.Document.Rules.Single(r => r.Name == "allow-all"));

        // The same flip, but of a text the policy in force was not compiled from; and an edit that is not a flip.
        var other = text.Replace("priority: 1", "priority: 3", StringComparison.Ordinal);
        var otherFlipped = PolicyEditor.SetRuleMode("corral.yaml", other, "deny-all", RuleMode.Watch).Text!;
        Assert.Null(editor.DeriveModeChange(basis, other, otherFlipped, Encoding.UTF8.GetBytes(otherFlipped)));
        Assert.Null(editor.DeriveModeChange(basis, text, other, Encoding.UTF8.GetBytes(other)));
        Assert.Null(editor.DeriveModeChange(basis, text, text, Encoding.UTF8.GetBytes(text)));
    }

    [Fact]
    public void The_content_hash_covers_the_feeds_as_well_as_the_policy_text()
    {
        using var temp = new TempPolicy();
        const string text = "version: 1\nthreatGroups:\n  bad: { feeds: [bad.txt] }\nrules:\n  - { name: deny-bad, priority: 1, destination: [bad], action: deny }\n";
        temp.Write("bad.txt", "evil.example\n");
        var first = temp.Compile(text);
        temp.Write("bad.txt", "evil.example\nworse.example\n");
        var second = temp.Compile(text);
        Assert.NotEqual(first.Hash, second.Hash);
        Assert.NotEqual(first.Document.InputsDigest, second.Document.InputsDigest);
        Assert.Equal(PolicyDocument.ContentHashOf(Encoding.UTF8.GetBytes(text), second.Document.InputsDigest), second.Hash);
    }

    private static void AssertSame(CompiledPolicy full, CompiledPolicy derived, List<Flow> flows)
    {
        Assert.Equal(full.Hash, derived.Hash);
        Assert.Equal(full.Rules.Select(r => (r.Name, r.Index, r.Mode, r.Action, r.Decrypt)), derived.Rules.Select(r => (r.Name, r.Index, r.Mode, r.Action, r.Decrypt)));
        Assert.Equal(full.Document.Rules.Select(r => (r.Name, r.Mode)), derived.Document.Rules.Select(r => (r.Name, r.Mode)));
        foreach (var flow in flows)
        {
            var expected = full.Decide(flow);
            var actual = derived.Decide(flow);
            Assert.True(Same(expected, actual), $"{flow.Source} → {flow.Host}:{flow.Port} [{string.Join(",", flow.Destinations)}]: full {Show(expected)}, derived {Show(actual)}");
        }
    }

    private static bool Same(Verdict a, Verdict b) =>
        (a.Action, a.Rule?.Name, a.Enforced, a.Decrypt, a.Reason, a.AddressIndex, a.UrlFiltersPending, a.GuardSkippedRule?.Name) ==
        (b.Action, b.Rule?.Name, b.Enforced, b.Decrypt, b.Reason, b.AddressIndex, b.UrlFiltersPending, b.GuardSkippedRule?.Name);

    private static string Show(Verdict v) => $"{v.Action} {v.RuleOf()} enforced={v.Enforced} decrypt={v.Decrypt} {v.Reason}";

    /// <summary>Flows that reach every rule: every named host of the policy, from inside and outside every source group, to public, internal and platform addresses.</summary>
    private static IEnumerable<Flow> FlowsFor(PolicyDocument document)
    {
        var hosts = new List<string?> { null, "unknown.example", "login.microsoftonline.com" };
        foreach (var group in document.WebGroups)
        {
            hosts.AddRange(group.Domains.Select(d => d.Value.IsWildcard ? "x." + d.Value.Suffix : d.Value.Suffix));
            hosts.AddRange(group.Urls.Select(u => u.Value.Host.IsWildcard ? "x." + u.Value.Host.Suffix : u.Value.Host.Suffix));
        }
        foreach (var threat in document.ThreatGroups) hosts.AddRange(threat.AllDomains.Take(3));
        var sources = new List<string> { "10.20.1.5", "10.0.0.9", "192.168.7.7", "198.51.100.20" };
        foreach (var group in document.SmartGroups)
            sources.AddRange(group.AllPrefixes.Where(p => p.IsV4).Take(2).Select(p => new IPAddress(BitConverter.GetBytes((uint)p.First).Reverse().ToArray()).ToString()));
        var destinations = new[] { "198.51.100.7", "10.30.0.5", "169.254.169.254", "168.63.129.16" };
        foreach (var source in sources.Distinct())
            foreach (var host in hosts.Distinct())
                foreach (var port in new[] { 443, 80 })
                {
                    yield return Flows.To(source, host, port, destinations[0]);
                    yield return Flows.To(source, host, port, destinations[1], destinations[0]);
                    if (host is null) foreach (var d in destinations.Skip(2)) yield return Flows.To(source, null, port, d);
                }
    }
}

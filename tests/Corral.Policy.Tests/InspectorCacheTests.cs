using System.Text;
using Corral.Policy.Compilation;
using Corral.Policy.Editing;
using Corral.Policy.Inspection;
using Corral.Policy.Model;

namespace Corral.Policy.Tests;

/// <summary>
/// Each compiled policy carries its payload inspector; with one <see cref="InspectorCache"/> for all compiles (as the
/// gateway's reloader passes), a policy whose patterns are unchanged keeps the regexes, one that changes them gets new ones.
/// </summary>
public sealed class InspectorCacheTests : IDisposable
{
    private readonly TempPolicy _temp = new();

    public void Dispose() => _temp.Dispose();

    private const string Policy = """
        version: 1
        inspection:
          patterns: [private-key]
          custom:
            - { name: ticket, regex: "TICKET-[0-9]{6}" }
        rules:
          - { name: deny-all, priority: 1, action: deny }
        """;

    [Fact]
    public void A_recompile_keeps_the_inspector_unless_the_patterns_change()
    {
        var options = new CompileOptions { Inspectors = new InspectorCache() };
        var first = _temp.Compile(Policy, options);
        var inspector = first.Inspector;
        Assert.Equal("ticket", inspector.Scan("id TICKET-123456"u8));

        var (watched, _) = PolicyEditor.SetRuleMode("corral.yaml", Policy, "deny-all", RuleMode.Watch);
        var promoted = RuleModeEditor.WithRuleMode(first, "deny-all", RuleMode.Watch, Encoding.UTF8.GetBytes(Policy), Encoding.UTF8.GetBytes(watched!))!;
        Assert.Same(inspector, promoted.Inspector); // a mode change shares the settings
        Assert.Same(inspector, _temp.Compile(watched!, options).Inspector); // a full compile of the same patterns: same regexes

        var changed = _temp.Compile(Policy.Replace("TICKET-[0-9]{6}", "CASE-[0-9]{4}"), options);
        Assert.NotSame(inspector, changed.Inspector);
        Assert.Null(changed.Inspector.Scan("id TICKET-123456"u8));
        Assert.Equal("ticket", changed.Inspector.Scan("id CASE-1234"u8));
        Assert.Equal("ticket", first.Inspector.Scan("id TICKET-123456"u8)); // the earlier snapshot keeps its own patterns
    }

    [Fact]
    public void Without_a_cache_each_compile_builds_its_own_inspector() =>
        Assert.NotSame(_temp.Compile(Policy).Inspector, _temp.Compile(Policy).Inspector);

    [Fact]
    public void A_cache_seeded_with_an_inspector_reuses_it_for_the_same_patterns()
    {
        var first = _temp.Compile(Policy);
        Assert.Same(first.Inspector, _temp.Compile(Policy, new CompileOptions { Inspectors = new InspectorCache(first.Inspector) }).Inspector);
    }
}

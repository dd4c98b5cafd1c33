using System.Net;
using System.Text;
using Corral.Gateway.Decision;
using Corral.Gateway.Resolution;
using Corral.Policy;
using Corral.Policy.Compilation;
using Corral.Policy.Editing;
using Corral.Policy.Model;

namespace Corral.Gateway.Tests;

/// <summary>The payload patterns are compiled once per distinct set: a reload that keeps them keeps the regexes, one that changes them applies the new ones.</summary>
public sealed class InspectorCacheTests
{
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
    public void A_reload_keeps_the_inspector_unless_the_patterns_change()
    {
        var folder = Directory.CreateTempSubdirectory("corral-inspector-").FullName;
        try
        {
            CompiledPolicy Compile(string text) => PolicyChecker.CheckText(Path.Combine(folder, "corral.yaml"), text, folder).Compiled
                ?? throw new InvalidOperationException("did not compile");
            var first = Compile(Policy);
            var source = new PolicySource(first);
            var decider = new FlowDecider(source, new NoResolver());
            var inspector = decider.CurrentInspector();
            Assert.Equal("ticket", inspector.Scan("id TICKET-123456"u8));

            var (watched, _) = PolicyEditor.SetRuleMode("corral.yaml", Policy, "deny-all", RuleMode.Watch);
            source.Swap(RuleModeEditor.WithRuleMode(first, "deny-all", RuleMode.Watch, Encoding.UTF8.GetBytes(Policy), Encoding.UTF8.GetBytes(watched!))!);
            Assert.Same(inspector, decider.CurrentInspector()); // a promotion shares the settings
            source.Swap(Compile(watched!));
            Assert.Same(inspector, decider.CurrentInspector()); // a full compile of the same patterns: equal settings, same regexes

            source.Swap(Compile(Policy.Replace("TICKET-[0-9]{6}", "CASE-[0-9]{4}")));
            var changed = decider.CurrentInspector();
            Assert.NotSame(inspector, changed);
            Assert.Null(changed.Scan("id TICKET-123456"u8));
            Assert.Equal("ticket", changed.Scan("id CASE-1234"u8));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private sealed class NoResolver : IResolver
    {
        public ValueTask<IReadOnlyList<IPAddress>> ResolveAsync(string host, CancellationToken cancellationToken) => new([]);
    }
}

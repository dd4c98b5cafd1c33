using System.Net;
using Corral.Policy;
using Corral.Policy.Compilation;

namespace Corral.Replay.Tests;

/// <summary>The wildcard suggest proposes is never broader than what the denied siblings share.</summary>
public sealed class SuggesterTests
{
    private const string Policy = """
        version: 1
        name: suggest-test
        defaultAction: deny
        smartGroups:
          agents: { cidrs: [10.20.1.0/24] }
        webGroups:
          tools: { domains: [mcp.contoso.com] }
        rules:
          - { name: allow-tools, priority: 1, source: [agents], webGroups: [tools], action: permit }
          - { name: deny-internet, priority: 2, source: [agents], destination: [public-internet], action: deny }
        """;

    private static RecordedFlow Denied(string host, int flow) => new()
    {
        File = "t", Line = flow, Time = DateTimeOffset.UnixEpoch.AddMinutes(flow), Kind = RecordKind.Decision, FlowId = $"f{flow}", Host = host,
        Recorded = new Outcome("deny-internet", false, true, false),
        Facts = new Flow { Source = IPAddress.Parse("10.20.1.5"), Host = host, Destinations = [IPAddress.Parse("20.1.2.3")], Port = 443, IsTls = true },
    };

    [Fact]
    public void Siblings_collapse_to_their_own_parent_only_never_to_a_broader_domain()
    {
        var result = PolicyChecker.CheckText("p.yaml", Policy, Path.GetTempPath());
        Assert.True(result.Succeeded, string.Join("\n", result.Diagnostics));
        string[] names = ["acct1.blob.core.windows.net", "acct2.blob.core.windows.net", "acct3.blob.core.windows.net", "login.windows.net"];
        var records = names.SelectMany((n, i) => new[] { Denied(n, 2 * i), Denied(n, 2 * i + 1) });
        var suggestion = new Suggester(result.Compiled!, PublicSuffixList.Load()).Run(records, "deny-internet", "tools", new LineProblems());
        Assert.Equal(["*.blob.core.windows.net", "login.windows.net"], suggestion.Entries.Select(e => e.Domain).Order(StringComparer.Ordinal).ToArray());
        Assert.Equal(6, suggestion.Entries.Single(e => e.Domain.StartsWith('*')).Flows);
        Assert.DoesNotContain(suggestion.Entries, e => e.Domain == "*.windows.net");
    }
}

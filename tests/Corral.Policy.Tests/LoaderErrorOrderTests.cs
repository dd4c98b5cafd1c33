namespace Corral.Policy.Tests;

/// <summary>
/// Every diagnostic of policies wrong in several sections at once, in order: the loader reads its sections one after
/// another and validates references after the rules, and a change of that order (or of a message, a location or a
/// hint, or of the one budget of "did you mean" hints the sections share) shows here.
/// </summary>
public sealed class LoaderErrorOrderTests : IDisposable
{
    private readonly TempPolicy _temp = new();

    public void Dispose() => _temp.Dispose();

    private string[] Diagnostics(string yaml)
    {
        _temp.Write("feeds/bad.txt", "10.0.0.0/8\nnot an entry\n");
        var result = _temp.Check(yaml);
        Assert.False(result.Succeeded);
        return result.Diagnostics.Select(d => d.ToString().Replace(_temp.Directory, "<dir>", StringComparison.Ordinal)).ToArray();
    }

    public static TheoryData<string, string[]> Cases => new()
    {
        {
            // One mistake in every section, written in an order other than the loader's.
            """
            dns: { mode: strict }
            inspection: { patterns: [privte-key] }
            rules:
              - { name: r1, priority: 1, source: [agentz], destination: [threats], webGroups: [toolz], ports: [70000], action: permit }
            threatGroups:
              threats: { feeds: [feeds/missing.txt, feeds/bad.txt] }
            webGroups:
              tools: { domains: ["bad domain"], urls: [example.com/a/*] }
            smartGroups:
              agents: { cidrs: [10.20.1.0/33], serviceTag: AzureCloud }
            serviceTags: { cloud: Publik }
            defaultAction: maybe
            version: 2
            extra: 1
            """,
            [
                "<dir>/corral.yaml:14:1: error: unknown key 'extra' in the policy (expected one of: version, name, defaultAction, smartGroups, webGroups, threatGroups, serviceTags, rules, inspection, dns, tls, credentials, agents) [unknown-key]",
                "<dir>/corral.yaml:13:10: error: unsupported version '2' (this Corral reads version: 1) [bad-version]",
                "<dir>/corral.yaml:12:16: error: 'defaultAction' must be permit | deny, not 'maybe' [bad-value]",
                "<dir>/corral.yaml:11:23: error: 'cloud' must be Public | AzureGovernment | China | AzureGermany, not 'Publik' (did you mean 'Public'?) [bad-value]",
                "<dir>/corral.yaml:10:21: error: '10.20.1.0/33' is not a CIDR: prefix length must be a number from 0 to 32 [bad-cidr]",
                "<dir>/corral.yaml:10:48: warning: the gateway cannot enforce service tag 'AzureCloud' without a Service Tags file (set serviceTags.file to Microsoft's weekly ServiceTags_Public_*.json) [service-tags-unresolved]",
                "<dir>/corral.yaml:8:22: error: 'bad domain' is not a valid domain: character ' ' is not allowed in a host name [bad-domain]",
                "<dir>/corral.yaml:6:22: error: feed file 'feeds/missing.txt' not found (looked for <dir>/feeds/missing.txt) (create it: one IP, CIDR or domain a line, '#' for comments) [feed-not-found]",
                "<dir>/feeds/bad.txt:2:1: error: not an IP address, CIDR or domain: one entry a line [bad-feed-entry]",
                "<dir>/corral.yaml:4:100: error: '70000' is not a port (a number from 1 to 65535, or a range such as 8000-8100) [bad-port]",
                "<dir>/corral.yaml:4:39: error: unknown group 'agentz' in source (did you mean 'agents'?) [unknown-group]",
                "<dir>/corral.yaml:4:84: error: unknown web group 'toolz' (did you mean 'tools'?) [unknown-group]",
                "<dir>/corral.yaml:2:26: error: unknown built-in pattern 'privte-key' (did you mean 'private-key'?) [unknown-pattern]",
                "<dir>/corral.yaml:1:14: error: 'mode' must be enforce | watch, not 'strict' [bad-value]",
            ]
        },
        {
            // The same name in three sections, and each kind of group referenced where it does not belong.
            """
            version: 1
            smartGroups:
              shared: { cidrs: [10.0.0.0/8] }
              agents: { cidrs: [10.20.1.0/24] }
            webGroups:
              shared: { domains: [a.example.com] }
              tools: { domains: [b.example.com] }
              paths: { urls: [c.example.com/x/*] }
            threatGroups:
              shared: { feeds: [feeds/bad.txt] }
              threats: { feeds: [feeds/bad.txt] }
            rules:
              - { name: r1, priority: 1, source: [threats, tools], destination: [tools, anywhere], webGroups: [agents, public-internet], action: permit }
              - { name: r2, priority: 1, source: [agents], webGroups: [paths], action: deny }
              - { name: r2, priority: 3, source: [agents], webGroups: [paths], action: permit }
              - { name: r4, priority: 4, source: [agnets], destination: [treats], webGroups: [tols], action: deny, protocol: udp }
            """,
            [
                "<dir>/corral.yaml:6:3: error: group 'shared' is already defined as a smart group (at <dir>/corral.yaml:3:3; group names are unique across smartGroups, webGroups, threatGroups and agents) [duplicate-group]",
                "<dir>/corral.yaml:10:3: error: group 'shared' is already defined as a smart group (at <dir>/corral.yaml:3:3; group names are unique across smartGroups, webGroups, threatGroups and agents) [duplicate-group]",
                "<dir>/feeds/bad.txt:2:1: error: not an IP address, CIDR or domain: one entry a line [bad-feed-entry]",
                "<dir>/corral.yaml:14:27: error: priority 1 is also rule 'r1''s (at <dir>/corral.yaml:13:27; priorities decide the order, so each must be unique) [duplicate-priority]",
                "<dir>/corral.yaml:15:13: error: rule name 'r2' is used twice (first at <dir>/corral.yaml:14:13) [duplicate-rule]",
                "<dir>/corral.yaml:16:114: error: rule 'r4' uses web groups, which match TLS SNI or HTTP Host over TCP [webgroups-need-tcp]",
                "<dir>/corral.yaml:13:39: error: 'threats' is a threat group; sources are smart groups and agents (threat groups belong in 'destination') [wrong-group-kind]",
                "<dir>/corral.yaml:13:48: error: 'tools' is a web group, not a source group (move it to 'webGroups') [wrong-group-kind]",
                "<dir>/corral.yaml:13:70: error: 'tools' is a web group, not a destination group (move it to 'webGroups') [wrong-group-kind]",
                "<dir>/corral.yaml:13:100: error: 'agents' is a smart group, not a web group (move it to 'destination') [wrong-group-kind]",
                "<dir>/corral.yaml:13:108: error: 'public-internet' is a built-in group, not a web group (move it to 'destination') [wrong-group-kind]",
                "<dir>/corral.yaml:16:39: error: unknown group 'agnets' in source (did you mean 'agents'?) [unknown-group]",
                "<dir>/corral.yaml:16:62: error: unknown group 'treats' in destination (did you mean 'threats'?) [unknown-group]",
                "<dir>/corral.yaml:16:83: error: unknown web group 'tols' (did you mean 'tools'?) [unknown-group]",
                "<dir>/corral.yaml:14:60: error: web group 'paths' has URL filters, but rule 'r2' denies and so cannot decrypt to see paths (deny by domain in a web group without 'urls', or permit the URLs you want in a decrypting rule) [url-filter-needs-decrypt]",
                "<dir>/corral.yaml:15:60: error: web group 'paths' has URL filters, but rule 'r2' does not decrypt (add 'decrypt: allowed' to the rule, or move the URLs to a group used by a decrypting rule) [url-filter-needs-decrypt]",
            ]
        },
        {
            // Rule-level checks in the order they are made, then the references.
            """
            version: 1
            smartGroups:
              agents: { cidrs: [10.20.1.0/24] }
            webGroups:
              tools: { domains: [mcp.contoso.com] }
            rules:
              - { name: "bad name!", priority: -1, action: deny, decrypt: allowed, protocol: icmp, ports: [443], requireTls: true, mcp: { tools: [x] }, webGroups: [tools, nope] }
              - { priority: 2, action: permit }
              - { name: r3, action: permit, mode: wach, logging: yes, mcp: [x] }
              - { name: r4, priority: 4, action: permit, decrypt: allowed, mcp: { tools: [a, a, ""], methods: [tools/call], pinTools: maybe, extra: 1 } }
              - just a string
            """,
            [
                "<dir>/corral.yaml:7:13: error: rule name 'bad name!' must be letters, digits, '.', '_' or '-' [bad-name]",
                "<dir>/corral.yaml:7:36: error: priority '-1' must be a whole number from 0 to 1000000 [bad-priority]",
                "<dir>/corral.yaml:7:63: error: rule 'bad name!' denies, so it cannot decrypt (remove 'decrypt: allowed' or make the rule a permit) [decrypt-on-deny]",
                "<dir>/corral.yaml:7:63: error: rule 'bad name!' decrypts, which needs protocol tcp or any [decrypt-needs-tcp]",
                "<dir>/corral.yaml:7:95: error: rule 'bad name!' is ICMP, which has no ports (remove 'ports' or use protocol tcp/udp) [ports-with-icmp]",
                "<dir>/corral.yaml:7:82: error: rule 'bad name!' uses web groups, which match TLS SNI or HTTP Host over TCP [webgroups-need-tcp]",
                "<dir>/corral.yaml:7:114: error: rule 'bad name!' requires TLS, which needs protocol tcp or any [tls-needs-tcp]",
                "<dir>/corral.yaml:7:125: error: rule 'bad name!' has an mcp section, but the gateway sees MCP calls only in flows it may decrypt (mcp belongs on a permit with 'decrypt: allowed') [mcp-needs-decrypt]",
                "<dir>/corral.yaml:8:5: error: rule has no 'name' [missing-key]",
                "<dir>/corral.yaml:9:5: error: rule 'r3' has no 'priority' (rules are tried by ascending priority) [missing-key]",
                "<dir>/corral.yaml:9:39: error: 'mode' must be enforce | watch, not 'wach' (did you mean 'watch'?) [bad-value]",
                "<dir>/corral.yaml:9:54: error: 'logging' must be true or false, not 'yes' [bad-value]",
                "<dir>/corral.yaml:9:64: error: 'mcp' of rule 'r3' is a mapping (mcp: { tools: [search_docs], pinTools: true }) [bad-type]",
                "<dir>/corral.yaml:10:130: error: unknown key 'extra' in the mcp section of rule 'r4' (expected one of: tools, pinTools, methods) [unknown-key]",
                "<dir>/corral.yaml:10:82: error: a tool name 'a' is listed twice in mcp.tools [duplicate-name]",
                "<dir>/corral.yaml:10:85: error: '' is not usable as a tool name (1 to 128 printable characters) [bad-name]",
                "<dir>/corral.yaml:10:100: error: tools/call is decided by 'tools', not 'methods' (list the tools the agent may call under 'tools') [mcp-method-tools-call]",
                "<dir>/corral.yaml:10:123: error: 'pinTools' must be false | true | enforce, not 'maybe' [bad-value]",
                "<dir>/corral.yaml:11:5: error: each rule is a mapping ({ name: …, priority: …, action: permit|deny, … }) [bad-type]",
                "<dir>/corral.yaml:7:160: error: unknown web group 'nope' [unknown-group]",
            ]
        },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Every_error_of_a_policy_wrong_in_several_sections_comes_in_the_same_order(string yaml, string[] expected) =>
        Assert.Equal(expected, Diagnostics(yaml));

    [Fact]
    public void The_did_you_mean_budget_is_shared_by_every_section_in_the_order_they_are_read()
    {
        // A hundred typos in smart groups use up the hints; the typos after them, in later sections, get the plain hint.
        var groups = string.Concat(Enumerable.Range(0, 100).Select(i => $"  g{i}: {{ cidrz: [10.0.0.0/8] }}\n"));
        var yaml = "version: 1\nsmartGroups:\n" + groups + "rules:\n  - { name: r, priority: 1, actoin: deny }\ndns: { mode: enforc }\n";
        var diagnostics = Diagnostics(yaml);
        Assert.Equal(100, diagnostics.Count(d => d.Contains("did you mean 'cidrs'?", StringComparison.Ordinal)));
        Assert.Equal(
        [
            "<dir>/corral.yaml:104:29: error: unknown key 'actoin' in a rule (expected one of: name, priority, source, destination, webGroups, action, protocol, ports, decrypt, mode, logging, requireTls, mcp, maxBufferedBody, websocket) [unknown-key]",
            "<dir>/corral.yaml:104:5: error: rule 'r' has no 'action' (action: permit or action: deny) [missing-key]",
            "<dir>/corral.yaml:105:14: error: 'mode' must be enforce | watch, not 'enforc' [bad-value]",
        ], diagnostics.Skip(200));
    }
}

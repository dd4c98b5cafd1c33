using System.Net;
using Corral.Policy.Compilation;
using Corral.Policy.Model;

namespace Corral.Policy.Tests;

/// <summary>Every clause of DESIGN.md's match semantics, through the one decision function.</summary>
public sealed class DecisionSemanticsTests : IDisposable
{
    private const string Agent = "10.20.1.5";

    internal const string Policy = """
        version: 1
        name: semantics
        defaultAction: deny
        smartGroups:
          agents: { cidrs: [10.20.1.0/24, "fd00:20::/64"] }
          spoke: { cidrs: [10.30.0.0/16] }
          partner: { cidrs: [203.0.113.0/24] }
        webGroups:
          platform: { domains: [mcr.microsoft.com, "*.identity.azure.net"] }
          tools:
            domains: [mcp.contoso.com, "bücher.example"]
            urls: ["api.github.com/repos/contoso/*"]
        threatGroups:
          bad: { feeds: [feeds/bad.txt] }
        rules:
          - { name: deny-threat, priority: 1, source: [agents], destination: [bad], action: deny }
          - { name: allow-platform, priority: 2, source: [agents], webGroups: [platform], action: permit, ports: [443] }
          - { name: allow-tools, priority: 3, source: [agents], webGroups: [tools], action: permit, decrypt: allowed, ports: [443] }
          - { name: allow-partner, priority: 4, source: [agents], destination: [partner], action: permit }
          - { name: deny-internet, priority: 5, source: [agents], destination: [public-internet], action: deny }
          - { name: deny-east-west, priority: 6, source: [agents], destination: [spoke], action: deny }
        """;

    internal const string Feed = """
        # threat feed: IPs, CIDRs, domains, Spamhaus DROP lines, hosts-file lines
        198.51.100.7
        192.0.2.0/24 ; SBL123456
        evil.example
        0.0.0.0 c2.example
        2001:db8:bad::/48   # IPv6 too
        """;

    private readonly TempPolicy _temp = new();
    private readonly CompiledPolicy _policy;

    public DecisionSemanticsTests()
    {
        _temp.Write("feeds/bad.txt", Feed);
        _policy = _temp.Compile(Policy);
    }

    public void Dispose() => _temp.Dispose();

    private Verdict Decide(string host, params string[] addresses) => _policy.Decide(Flows.To(Agent, host, 443, addresses));

    private Verdict DecideText(string destination, int port = 443, string source = Agent)
    {
        Assert.True(Destination.TryParse(destination, out var d, out var error), error);
        return _policy.Decide(new Flow
        {
            Source = IPAddress.Parse(source), Host = d.Host, Port = port, IsTls = true,
            Destinations = d.Address is null ? [] : [d.Address],
            AssumePublicIfUnresolved = d.Address is null,
        });
    }

    [Theory]
    [InlineData("mcr.microsoft.com", "allow-platform")]
    [InlineData("x.mcr.microsoft.com", "deny-internet")]     // an exact name does not cover names below it
    [InlineData("a.identity.azure.net", "allow-platform")]   // *.x covers names below x …
    [InlineData("a.b.identity.azure.net", "allow-platform")] // … at any depth …
    [InlineData("identity.azure.net", "deny-internet")]      // … but not x itself
    [InlineData("xidentity.azure.net", "deny-internet")]     // a suffix is matched on a label boundary
    [InlineData("microsoft.com", "deny-internet")]
    [InlineData("mcp.contoso.com", "allow-tools")]
    public void Domain_patterns_match_exact_names_and_wildcards_strictly_below(string host, string rule) =>
        Assert.Equal(rule, Decide(host, "198.18.0.10").RuleOf());

    [Theory]
    [InlineData("MCR.Microsoft.COM", "allow-platform")]
    [InlineData("mcr.microsoft.com.", "allow-platform")]
    [InlineData("A.IDENTITY.AZURE.NET.", "allow-platform")]
    [InlineData("bücher.example", "allow-tools")]
    [InlineData("BÜCHER.example", "allow-tools")]
    [InlineData("xn--bcher-kva.example", "allow-tools")]
    public void Names_are_compared_lower_case_without_trailing_dot_and_IDNs_as_punycode(string written, string rule) =>
        Assert.Equal(rule, DecideText(written).RuleOf());

    [Theory]
    [InlineData("10.30.0.5")]
    [InlineData("0x0a1e0005")]       // hex
    [InlineData("169738245")]        // decimal
    [InlineData("012.036.0.5")]      // octal
    [InlineData("10.30.5")]          // shortened: the last part fills the rest
    [InlineData("0xa.30.0.5")]
    [InlineData("[::ffff:10.30.0.5]")] // IPv4-mapped IPv6
    [InlineData("::ffff:a1e:5")]
    public void IP_literals_in_any_spelling_are_addresses_never_names(string written)
    {
        Assert.True(Destination.TryParse(written, out var d, out _));
        Assert.Null(d.Host);
        Assert.Equal(IPAddress.Parse("10.30.0.5"), d.Address);
        Assert.Equal("deny-east-west", DecideText(written).RuleOf());
    }

    [Fact]
    public void IPv6_sources_and_destinations_match_groups_and_feeds()
    {
        Assert.Equal("deny-threat", _policy.Decide(Flows.To("fd00:20::5", null, 443, "2001:db8:bad::1")).RuleOf());
        Assert.Equal("deny-internet", _policy.Decide(Flows.To("fd00:20::5", null, 443, "2606:4700::1")).RuleOf());
        Assert.Equal("allow-platform", _policy.Decide(Flows.To("::ffff:10.20.1.5", "mcr.microsoft.com", 443, "2606:4700::1")).RuleOf());
        Assert.Equal("(default)", _policy.Decide(Flows.To("fd00:21::5", null, 443, "2606:4700::1")).RuleOf());
    }

    [Theory]
    [InlineData("198.51.100.7")]
    [InlineData("192.0.2.55")]   // from the Spamhaus DROP line
    public void Threat_feed_addresses_and_CIDRs_are_denied_first(string address) =>
        Assert.Equal("deny-threat", Decide("mcr.microsoft.com", address).RuleOf());

    [Theory]
    [InlineData("evil.example", "deny-threat")]
    [InlineData("a.b.evil.example", "deny-threat")]   // a listed domain covers every name below it
    [InlineData("c2.example", "deny-threat")]         // hosts-file form
    [InlineData("notevil.example", "deny-internet")]
    [InlineData("evil.example.com", "deny-internet")]
    public void Threat_feed_domains_match_the_name_and_below(string host, string rule) =>
        Assert.Equal(rule, Decide(host, "198.18.0.10").RuleOf());

    [Fact]
    public void First_match_wins_by_ascending_priority()
    {
        // Allowed name, threat-listed address: the threat rule comes first.
        var verdict = Decide("mcr.microsoft.com", "198.51.100.7");
        Assert.Equal("deny-threat", verdict.RuleOf());
        Assert.Equal(1, verdict.Priority);
    }

    [Theory]
    [InlineData("10.30.0.5", "deny-east-west")]      // rebinding to the adjacent spoke
    [InlineData("10.99.0.5", "(default)")]           // private, in no group
    [InlineData("127.0.0.1", "(default)")]           // loopback
    [InlineData("169.254.169.254", "(default)")]     // instance metadata
    [InlineData("168.63.129.16", "deny-internet")]   // Azure platform address: public range, still guarded
    [InlineData("100.64.0.1", "(default)")]          // CGNAT
    [InlineData("fd00:1::1", "(default)")]           // ULA
    [InlineData("64:ff9b::a1e:5", "(default)")]      // NAT64 embedding 10.30.0.5: not internet either
    [InlineData("2002:a1e:5::1", "(default)")]       // 6to4 embedding 10.30.0.5
    [InlineData("64:ff9b::808:808", "deny-internet")] // NAT64 of a public address
    [InlineData("2001:0:a1e:5::1", "deny-internet")] // Teredo
    public void A_hostname_permit_never_authorizes_an_internal_or_platform_address(string address, string rule)
    {
        var verdict = Decide("mcp.contoso.com", address);
        Assert.Equal(rule, verdict.RuleOf());
        Assert.Equal(RuleAction.Deny, verdict.Action);
        Assert.Equal("allow-tools", verdict.GuardSkippedRule?.Name);
    }

    [Fact]
    public void The_guard_lets_a_rule_reach_an_internal_address_its_own_smart_group_names()
    {
        using var temp = new TempPolicy();
        var policy = temp.Compile("""
            version: 1
            smartGroups:
              agents: { cidrs: [10.20.1.0/24] }
              internal-api: { cidrs: [10.40.0.0/24] }
            webGroups:
              api-names: { domains: [api.internal.contoso.com] }
            rules:
              - { name: allow-internal-api, priority: 1, source: [agents], destination: [internal-api], webGroups: [api-names], action: permit }
            """);
        Assert.Equal(RuleAction.Permit, policy.Decide(Flows.To(Agent, "api.internal.contoso.com", 443, "10.40.0.9")).Action);
        Assert.Equal(RuleAction.Deny, policy.Decide(Flows.To(Agent, "api.internal.contoso.com", 443, "10.41.0.9")).Action);
        Assert.Equal(RuleAction.Deny, policy.Decide(Flows.To(Agent, "other.contoso.com", 443, "10.40.0.9")).Action); // both must hold
    }

    [Fact]
    public void With_several_addresses_the_first_permitted_one_is_chosen()
    {
        var verdict = Decide("mcp.contoso.com", "10.30.0.5", "169.254.169.254", "198.18.0.10", "198.18.0.11");
        Assert.Equal("allow-tools", verdict.RuleOf());
        Assert.Equal(2, verdict.AddressIndex);
    }

    [Fact]
    public void Unmatched_flows_get_the_default_action_which_is_never_watched()
    {
        var verdict = _policy.Decide(Flows.To("192.168.9.9", "mcr.microsoft.com", 443, "198.18.0.10"));
        Assert.Null(verdict.Rule);
        Assert.Equal(RuleAction.Deny, verdict.Action);
        Assert.True(verdict.Enforced);
        Assert.Equal(DecisionReason.DefaultAction, verdict.Reason);

        using var temp = new TempPolicy();
        temp.Write("feeds/bad.txt", Feed);
        var permissive = temp.Compile(Policy.Replace("defaultAction: deny", "defaultAction: permit"));
        var open = permissive.Decide(Flows.To("192.168.9.9", "x.example", 443, "198.18.0.10"));
        Assert.Equal(RuleAction.Permit, open.Action);
        Assert.Null(open.Rule);
    }

    [Fact]
    public void A_watched_deny_decides_but_is_not_enforced_and_is_never_decrypted()
    {
        using var temp = new TempPolicy();
        temp.Write("feeds/bad.txt", Feed);
        var policy = temp.Compile(Policy
            .Replace("destination: [public-internet], action: deny }", "destination: [public-internet], action: deny, mode: watch }")
            .Replace("action: permit, decrypt: allowed, ports: [443] }", "action: permit, decrypt: allowed, ports: [443], mode: watch }"));
        var denied = policy.Decide(Flows.To(Agent, "attacker.example", 443, "198.18.0.10"));
        Assert.Equal(("deny-internet", RuleAction.Deny, false, true), (denied.RuleOf(), denied.Action, denied.Enforced, denied.LetsThrough));
        Assert.Equal(DecisionReason.WatchedRuleMatched, denied.Reason);
        var tool = policy.Decide(Flows.To(Agent, "mcp.contoso.com", 443, "198.18.0.10"));
        Assert.Equal(("allow-tools", false, false), (tool.RuleOf(), tool.Enforced, tool.Decrypt));
        // Enforced rules are unaffected.
        Assert.True(policy.Decide(Flows.To(Agent, "evil.example", 443, "198.18.0.10")) is { Enforced: true, LetsThrough: false });
    }

    [Fact]
    public void Decrypt_is_set_only_for_an_enforced_permit_that_allows_it()
    {
        Assert.True(Decide("mcp.contoso.com", "198.18.0.10").Decrypt);
        Assert.False(Decide("mcr.microsoft.com", "198.18.0.10").Decrypt);
        Assert.False(Decide("attacker.example", "198.18.0.10").Decrypt);
    }

    [Fact]
    public void Ports_and_protocol_are_conditions()
    {
        Assert.Equal("deny-internet", _policy.Decide(Flows.To(Agent, "mcr.microsoft.com", 80, "198.18.0.10")).RuleOf());
        var udp = Flows.To(Agent, "mcr.microsoft.com", 443, "198.18.0.10") with { Protocol = FlowProtocol.Udp };
        Assert.Equal("deny-internet", _policy.Decide(udp).RuleOf()); // web-group rules are TCP
        Assert.Equal("allow-partner", _policy.Decide(Flows.To(Agent, null, 8443, "203.0.113.9")).RuleOf()); // no ports = any port
    }

    [Fact]
    public void A_flow_without_a_host_name_never_matches_a_web_group_rule() =>
        Assert.Equal("deny-internet", _policy.Decide(Flows.To(Agent, null, 443, "198.18.0.10")).RuleOf());

    [Fact]
    public void An_unresolved_name_is_taken_as_a_public_address()
    {
        Assert.Equal("deny-internet", Decide("attacker.example").RuleOf());
        Assert.Equal("allow-platform", Decide("mcr.microsoft.com").RuleOf());
    }

    [Theory]
    [InlineData("/repos/contoso/agent", "allow-tools")]
    [InlineData("/repos/contoso/", "allow-tools")]
    [InlineData("/repos/contoso/agent?ref=../../evil", "allow-tools")] // the query is not part of the path
    [InlineData("/repos/contoso/%61gent", "allow-tools")]              // unreserved escapes are decoded
    [InlineData("/repos/evil/agent", "deny-internet")]
    [InlineData("/Repos/contoso/x", "deny-internet")]                  // paths are case-sensitive
    // Ambiguous paths match no URL filter: a server may read them otherwise than the filter would.
    [InlineData("/repos/evil/../contoso/x", "deny-internet")]
    [InlineData("/repos/contoso/../evil/x", "deny-internet")]
    [InlineData("/repos/contoso/./x", "deny-internet")]
    [InlineData("/repos/contoso//x", "deny-internet")]
    [InlineData("/repos/contoso%2Fx", "deny-internet")]
    [InlineData("/repos/contoso/%2e%2e/evil", "deny-internet")]
    [InlineData("/repos/contoso/..;/evil", "deny-internet")]
    [InlineData("repos/contoso/x", "deny-internet")]
    public void URL_filters_narrow_the_hosts_they_name_once_the_path_is_seen(string target, string rule)
    {
        var flow = Flows.To(Agent, "api.github.com", 443, "198.18.0.10") with { Path = target };
        var verdict = _policy.Decide(flow);
        Assert.Equal(rule, verdict.RuleOf());
        Assert.False(verdict.UrlFiltersPending);
    }

    [Fact]
    public void At_connection_level_a_URL_filter_host_is_admitted_and_flagged_for_per_request_checks()
    {
        var verdict = Decide("api.github.com", "198.18.0.10");
        Assert.Equal("allow-tools", verdict.RuleOf());
        Assert.True(verdict.UrlFiltersPending);
        Assert.False(Decide("mcp.contoso.com", "198.18.0.10").UrlFiltersPending); // a domain entry admits every path
        var withPath = Flows.To(Agent, "mcp.contoso.com", 443, "198.18.0.10") with { Path = "/anything" };
        Assert.Equal("allow-tools", _policy.Decide(withPath).RuleOf());
    }

    [Fact]
    public void RequireTls_matches_only_TLS_flows()
    {
        using var temp = new TempPolicy();
        var policy = temp.Compile("""
            version: 1
            webGroups: { api: { domains: [api.example.com] } }
            rules:
              - { name: tls-only, priority: 1, webGroups: [api], action: permit, requireTls: true }
            """);
        var flow = Flows.To(Agent, "api.example.com", 8443, "198.18.0.10");
        Assert.Equal(RuleAction.Permit, policy.Decide(flow with { IsTls = true }).Action);
        Assert.Equal(RuleAction.Deny, policy.Decide(flow with { IsTls = false }).Action);
    }

    [Fact]
    public void Public_stand_ins_are_public_and_unguarded_only_when_configured()
    {
        var standIn = Decide("mcp.contoso.com", "127.0.0.7");
        Assert.Equal(RuleAction.Deny, standIn.Action);
        Assert.True(Corral.Policy.Addressing.IpPrefix.TryParse("127.0.0.0/29", out var prefix, out _));
        using var temp = new TempPolicy();
        temp.Write("feeds/bad.txt", Feed);
        var lab = temp.Compile(Policy, new CompileOptions { PublicStandIns = [prefix] });
        Assert.Equal("allow-tools", lab.Decide(Flows.To(Agent, "mcp.contoso.com", 443, "127.0.0.7")).RuleOf());
        Assert.Equal("deny-internet", lab.Decide(Flows.To(Agent, "attacker.example", 443, "127.0.0.7")).RuleOf());
        Assert.Equal("(default)", lab.Decide(Flows.To(Agent, "attacker.example", 443, "127.0.0.9")).RuleOf());
    }

    public static TheoryData<string, string?, string[]> ExplainCases => new()
    {
        { Agent, "mcr.microsoft.com", ["198.18.0.10"] },
        { Agent, "mcp.contoso.com", ["10.30.0.5", "198.18.0.10"] },
        { Agent, "evil.example", [] },
        { Agent, null, ["10.30.0.5"] },
        { Agent, "api.github.com", ["169.254.169.254"] },
        { "192.168.1.1", "mcr.microsoft.com", ["198.18.0.10"] },
        { "fd00:20::1", null, ["2001:db8:bad::9"] },
    };

    [Theory]
    [MemberData(nameof(ExplainCases))]
    public void Explain_reaches_the_same_verdict_as_Decide(string source, string? host, string[] addresses)
    {
        var flow = Flows.To(source, host, 443, addresses);
        var explanation = _policy.Explain(flow);
        Assert.Equal(_policy.Decide(flow), explanation.Verdict);
        Assert.NotEmpty(explanation.Addresses);
        Assert.Contains(explanation.Addresses[^1].Steps, s => s.Matched || explanation.Verdict.Rule is null);
    }

    [Fact]
    public void Decide_allocates_nothing()
    {
        var flows = new[]
        {
            Flows.To(Agent, "mcr.microsoft.com", 443, "198.18.0.10"),
            Flows.To(Agent, "mcp.contoso.com", 443, "10.30.0.5", "198.18.0.10"),
            Flows.To(Agent, "a.b.evil.example", 443, "198.18.0.10"),
            Flows.To("fd00:20::5", null, 443, "2001:db8:bad::1"),
            Flows.To(Agent, "api.github.com", 443, "198.18.0.10") with { Path = "/repos/contoso/x" },
        };
        Assert.Equal(0, Flows.AllocatedBy(() => { foreach (var f in flows) _policy.Decide(f); }));
    }

    [Fact]
    public void A_broad_destination_group_never_opens_metadata_loopback_or_platform_addresses_to_a_name()
    {
        var policy = _temp.Compile("""
            version: 1
            smartGroups:
              everything: { cidrs: [0.0.0.0/0, "::/0"] }
            webGroups:
              tools: { domains: [api.example.com] }
            rules:
              - { name: allow-api, priority: 1, destination: [everything], webGroups: [tools], action: permit }
            """);
        foreach (var address in new[] { "169.254.169.254", "127.0.0.1", "168.63.129.16", "64:ff9b::a9fe:a9fe" })
            Assert.Equal(RuleAction.Deny, policy.Decide(Flows.To("10.0.0.1", "api.example.com", 443, address)).Action);
        Assert.Equal(RuleAction.Permit, policy.Decide(Flows.To("10.0.0.1", "api.example.com", 443, "10.40.0.9")).Action); // private: opened explicitly
    }

    [Theory]
    [InlineData("64:ff9b::a1e:5")]    // NAT64 of 10.30.0.5
    [InlineData("2002:a1e:5::1")]     // 6to4 of 10.30.0.5
    [InlineData("::a1e:5")]           // IPv4-compatible
    [InlineData("::ffff:0:a1e:5")]    // SIIT
    [InlineData("fec0::1")]           // site-local
    public void IPv6_forms_of_internal_addresses_are_not_public_internet(string address)
    {
        var policy = _temp.Compile("""
            version: 1
            rules:
              - { name: allow-internet, priority: 1, destination: [public-internet], action: permit }
            """);
        Assert.Null(policy.Decide(Flows.To("10.0.0.1", null, 443, address)).Rule);
    }

    [Fact]
    public void Decide_fails_closed_on_facts_a_caller_should_never_hand_over()
    {
        var policy = _temp.Compile("version: 1\nwebGroups: { w: { domains: [api.example.com] } }\nrules:\n  - { name: r, priority: 1, webGroups: [w], action: permit }\n");
        var noAddress = policy.Decide(new Flow { Source = IPAddress.Loopback, Host = "api.example.com", Port = 443 });
        Assert.Equal((RuleAction.Deny, DecisionReason.NoDestinationAddress), (noAddress.Action, noAddress.Reason));
        var raw = policy.Decide(Flows.To("10.0.0.1", "API.example.com.", 443, "198.18.0.1"));
        Assert.Equal((RuleAction.Deny, DecisionReason.HostNotNormalized), (raw.Action, raw.Reason));
    }

    [Theory]
    [InlineData("4294967296")]
    [InlineData("1.2.3.999")]
    [InlineData("evil.123")]
    public void Numeric_hosts_that_are_not_valid_addresses_are_refused_not_taken_as_names(string text) =>
        Assert.False(Destination.TryParse(text, out _, out _));

    [Fact]
    public void Very_long_hex_literals_are_still_addresses() =>
        Assert.Equal(IPAddress.Parse("127.0.0.1"), Assert.IsType<IPAddress>(Parse("0x0000000000000000000000000000000000007f000001")));

    private static IPAddress? Parse(string s) => Destination.TryParse(s, out var d, out _) ? d.Address : null;
}

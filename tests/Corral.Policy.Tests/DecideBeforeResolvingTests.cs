using System.Net;
using Corral.Policy.Compilation;
using Corral.Policy.Model;
using Corral.Policy.Templates;

namespace Corral.Policy.Tests;

/// <summary>
/// <see cref="CompiledPolicy.DecideBeforeResolving"/> on the pack <c>corral init --template azure-foundry</c> writes,
/// with a Service Tags file so allow-aca-svctag is enforced locally: which names may be resolved at all.
/// </summary>
public sealed class DecideBeforeResolvingTests : IDisposable
{
    private const string Agent = "10.20.1.5";

    private const string ServiceTagsJson = """
        { "changeNumber": 1, "cloud": "Public", "values": [
          { "name": "AzureActiveDirectory", "id": "AzureActiveDirectory", "properties": { "region": "", "addressPrefixes": ["20.190.128.0/18"] } },
          { "name": "MicrosoftContainerRegistry", "id": "MicrosoftContainerRegistry", "properties": { "region": "", "addressPrefixes": ["20.38.0.0/16"] } },
          { "name": "AzureFrontDoor.FirstParty", "id": "AzureFrontDoor.FirstParty", "properties": { "region": "", "addressPrefixes": ["13.107.0.0/16"] } },
          { "name": "AzureContainerRegistry", "id": "AzureContainerRegistry", "properties": { "region": "", "addressPrefixes": ["20.37.0.0/16"] } }
        ] }
        """;

    // Every kind of address a name could resolve to: threat-listed, service tag, public, spoke, private, metadata, v6.
    private static readonly string[] AnyAddress =
        ["203.0.113.7", "20.38.1.1", "93.184.216.34", "10.30.4.4", "192.168.1.1", "169.254.169.254", "127.0.0.1", "2001:db8::1", "::ffff:20.38.1.1"];

    private readonly TempPolicy _temp = new();

    public void Dispose() => _temp.Dispose();

    private CompiledPolicy Foundry(bool serviceTags = true, bool watch = false)
    {
        _temp.Write("feeds/threat-ips.txt", "203.0.113.7\n");
        _temp.Write("feeds/threat-domains.txt", "evil.example\n");
        _temp.Write("servicetags/tags.json", ServiceTagsJson);
        var text = AzureFoundryTemplate.Render(new AzureFoundryOptions { Watch = watch });
        if (serviceTags) text = text.Replace("# file: servicetags/ServiceTags_Public.json", "file: servicetags/tags.json");
        return _temp.Compile(text);
    }

    private static Flow Unresolved(string host, int port = 443, string source = Agent, bool? tls = true) =>
        new() { Source = IPAddress.Parse(source), Host = host, Port = port, IsTls = tls };

    [Fact]
    public void A_threat_listed_name_is_denied_by_the_threat_rule_without_resolving()
    {
        var policy = Foundry();
        foreach (var host in new[] { "evil.example", "secret-abc123.evil.example" })
        {
            var decision = policy.DecideBeforeResolving(Unresolved(host));
            Assert.False(decision.NeedsAddresses);
            Assert.Equal("deny-threat-intel", decision.Verdict.RuleOf());
            Assert.False(decision.Verdict.LetsThrough);
            // Whatever the name resolves to, Decide names the same rule.
            foreach (var address in AnyAddress)
                Assert.Equal("deny-threat-intel", policy.Decide(Flows.To(Agent, host, 443, address)).RuleOf());
            Assert.Equal("deny-threat-intel", policy.DecideNameForAnyConnection(IPAddress.Parse(Agent), host).Verdict.RuleOf());
        }
    }

    [Fact]
    public void A_name_that_no_permit_can_reach_is_final_when_only_name_rules_permit()
    {
        // Without a Service Tags file the service-tag groups hold no address, so allow-aca-svctag can never match:
        // only web-group permits remain, and a name in none of them is denied before any DNS query.
        var policy = Foundry(serviceTags: false);
        var decision = policy.DecideBeforeResolving(Unresolved("secret-abc123.attacker.example"));
        Assert.False(decision.NeedsAddresses);
        Assert.Equal("default-deny-internet", decision.Verdict.RuleOf());
        foreach (var address in AnyAddress)
            Assert.False(policy.Decide(Flows.To(Agent, "secret-abc123.attacker.example", 443, address)).LetsThrough);
        Assert.False(policy.DecideNameForAnyConnection(IPAddress.Parse(Agent), "secret-abc123.attacker.example").NeedsAddresses);
    }

    [Fact]
    public void A_name_that_only_an_address_only_permit_could_permit_needs_its_addresses()
    {
        // allow-aca-svctag permits by address on 443: any name might resolve into a service tag's ranges.
        var policy = Foundry();
        var decision = policy.DecideBeforeResolving(Unresolved("secret-abc123.attacker.example"));
        Assert.True(decision.NeedsAddresses);
        Assert.Equal("allow-aca-svctag", decision.PossibleRule?.Name);
        Assert.Equal("allow-aca-svctag", policy.Decide(Flows.To(Agent, "secret-abc123.attacker.example", 443, "20.38.1.1")).RuleOf());
    }

    [Fact]
    public void A_name_permitted_by_a_web_group_needs_its_addresses()
    {
        var policy = Foundry(serviceTags: false);
        var decision = policy.DecideBeforeResolving(Unresolved("mcp.contoso.com"));
        Assert.True(decision.NeedsAddresses);
        Assert.Equal("allow-tool-calls", decision.PossibleRule?.Name);
        // The guard decides once the address is known: a public address passes, an internal one does not.
        Assert.Equal("allow-tool-calls", policy.Decide(Flows.To(Agent, "mcp.contoso.com", 443, "93.184.216.34")).RuleOf());
        Assert.False(policy.Decide(Flows.To(Agent, "mcp.contoso.com", 443, "169.254.169.254")).LetsThrough);
    }

    [Theory]
    [InlineData("mcp.contoso.com")]
    [InlineData("attacker.example")]
    public void A_name_on_a_port_no_rule_permits_is_final(string host)
    {
        var policy = Foundry(); // every permit of the pack is on 443, allow-aca-svctag included
        var decision = policy.DecideBeforeResolving(Unresolved(host, port: 8443, tls: null));
        Assert.False(decision.NeedsAddresses);
        Assert.Equal("default-deny-internet", decision.Verdict.RuleOf());
        foreach (var address in AnyAddress)
            Assert.False(policy.Decide(Flows.To(Agent, host, 8443, address)).LetsThrough);
        // A DNS resolver asks about any port: the name may be resolved.
        Assert.True(policy.DecideNameForAnyConnection(IPAddress.Parse(Agent), host).NeedsAddresses);
    }

    [Fact]
    public void A_source_no_rule_covers_gets_the_default_action_without_resolving()
    {
        var policy = Foundry();
        var decision = policy.DecideBeforeResolving(Unresolved("mcp.contoso.com", source: "10.99.0.1"));
        Assert.False(decision.NeedsAddresses);
        Assert.Equal(DecisionReason.DefaultAction, decision.Verdict.Reason);
        Assert.Equal(RuleAction.Deny, decision.Verdict.Action);
    }

    [Fact]
    public void In_watch_mode_a_deny_lets_through_so_every_name_needs_its_addresses()
    {
        var policy = Foundry(serviceTags: false, watch: true);
        foreach (var host in new[] { "evil.example", "attacker.example", "mcp.contoso.com" })
        {
            var decision = policy.DecideBeforeResolving(Unresolved(host));
            Assert.True(decision.NeedsAddresses, host);
        }
        Assert.Equal("deny-threat-intel", policy.DecideBeforeResolving(Unresolved("evil.example")).PossibleRule?.Name);
    }

    [Fact]
    public void A_watched_deny_after_an_address_dependent_one_still_needs_the_addresses()
    {
        var policy = _temp.Compile("""
            version: 1
            smartGroups:
              agents: { cidrs: [10.20.1.0/24] }
              spoke: { cidrs: [10.30.0.0/16] }
            rules:
              - { name: deny-spoke, priority: 1, source: [agents], destination: [spoke], action: deny }
              - { name: watch-internet, priority: 2, source: [agents], destination: [public-internet], action: deny, mode: watch }
            """);
        var decision = policy.DecideBeforeResolving(Unresolved("attacker.example"));
        Assert.True(decision.NeedsAddresses);
        Assert.Equal("watch-internet", decision.PossibleRule?.Name);
    }

    [Fact]
    public void A_default_action_permit_needs_the_addresses_unless_a_deny_takes_every_address_first()
    {
        var policy = _temp.Compile("""
            version: 1
            defaultAction: permit
            smartGroups:
              agents: { cidrs: [10.20.1.0/24] }
              spoke: { cidrs: [10.30.0.0/16] }
            webGroups:
              blocked: { domains: ["*.blocked.example"] }
            rules:
              - { name: deny-spoke, priority: 1, source: [agents], destination: [spoke], action: deny }
              - { name: deny-blocked, priority: 2, source: [agents], webGroups: [blocked], action: deny }
            """);
        var open = policy.DecideBeforeResolving(Unresolved("attacker.example"));
        Assert.True(open.NeedsAddresses);
        Assert.Null(open.PossibleRule); // the default action
        var blocked = policy.DecideBeforeResolving(Unresolved("x.blocked.example", port: 80, tls: false));
        Assert.False(blocked.NeedsAddresses);
        Assert.Equal("deny-blocked", blocked.Verdict.RuleOf());
    }

    [Fact]
    public void A_rule_requiring_TLS_could_match_while_TLS_is_not_known_yet()
    {
        var policy = _temp.Compile("""
            version: 1
            smartGroups:
              agents: { cidrs: [10.20.1.0/24] }
            webGroups:
              tools: { domains: [tools.example] }
            rules:
              - { name: allow-tools-tls, priority: 1, source: [agents], webGroups: [tools], action: permit, ports: [8443], requireTls: true }
            """);
        Assert.True(policy.DecideBeforeResolving(Unresolved("tools.example", port: 8443, tls: null)).NeedsAddresses);
        Assert.True(policy.DecideBeforeResolving(Unresolved("tools.example", port: 8443, tls: true)).NeedsAddresses);
        Assert.False(policy.DecideBeforeResolving(Unresolved("tools.example", port: 8443, tls: false)).NeedsAddresses);
    }

    [Fact]
    public void An_unnormalized_name_is_denied_without_resolving()
    {
        var decision = Foundry().DecideBeforeResolving(Unresolved("MCP.contoso.com"));
        Assert.False(decision.NeedsAddresses);
        Assert.Equal(DecisionReason.HostNotNormalized, decision.Verdict.Reason);
    }

    [Fact]
    public void Deciding_before_resolving_allocates_nothing()
    {
        var policy = Foundry();
        var flows = new[] { Unresolved("evil.example"), Unresolved("attacker.example"), Unresolved("mcp.contoso.com", port: 8443) };
        var agent = IPAddress.Parse(Agent);
        Assert.Equal(0, Flows.AllocatedBy(() =>
        {
            foreach (var f in flows) policy.DecideBeforeResolving(f);
            policy.DecideNameForAnyConnection(agent, "secret.evil.example");
        }));
    }
}

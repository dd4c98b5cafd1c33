using Corral.Policy.Diagnostics;
using Corral.Policy.Linting;
using Corral.Policy.Templates;

namespace Corral.Policy.Tests;

/// <summary>Lints catch a policy that would break the agent runtime or leave a hole; --strict makes them errors.</summary>
public sealed class LintTests : IDisposable
{
    private readonly TempPolicy _temp = new();

    public LintTests()
    {
        foreach (var feed in AzureFoundryTemplate.ThreatFeedFiles) _temp.Write(feed, "");
    }

    public void Dispose() => _temp.Dispose();

    private static readonly string Pack = AzureFoundryTemplate.Render(new AzureFoundryOptions { Watch = false });

    // Findings of every address-only permit (resolves-every-name, tested on its own below) are left out here, as are
    // service tags without a file.
    private IReadOnlyList<Diagnostic> Lints(string yaml) =>
        _temp.Check(yaml).Diagnostics.Where(d => d.Code is not "service-tags-unresolved" and not "resolves-every-name" and not "no-interception-ca").ToList();

    [Fact]
    public void A_decrypting_policy_without_an_interception_ca_is_told_once_what_to_do_and_one_that_declares_it_is_not()
    {
        var d = Assert.Single(_temp.Check(Pack).Diagnostics, d => d.Code == "no-interception-ca");
        Assert.Equal(Severity.Warning, d.Severity);
        Assert.Equal("rule 'allow-tool-calls' decrypts but the policy declares no interception CA", d.Message);
        Assert.Equal("run 'corral ca init --out corral-ca' and set tls.interceptionCa; the agents and the controller must trust it", d.Hint);
        var line = Pack.Split('\n')[d.Location.Line - 1];
        Assert.Contains("name: allow-tool-calls", line);
        Assert.StartsWith("allowed, ", line[(d.Location.Column - 1)..]); // at the rule's 'decrypt: allowed'
        Assert.NotNull(LintCatalog.Find("no-interception-ca"));

        // Watched, it still warns: promoting it is one word away.
        Assert.Single(_temp.Check(AzureFoundryTemplate.Render(new AzureFoundryOptions())).Diagnostics, d => d.Code == "no-interception-ca");

        _temp.Write("corral-ca/corral-ca.crt", Corral.Testing.TestCertificates.CaPem().CertificatePem);
        var declared = Pack.Replace("  # interceptionCa: corral-ca/corral-ca.crt", "  interceptionCa: corral-ca/corral-ca.crt", StringComparison.Ordinal);
        Assert.NotEqual(Pack, declared);
        Assert.DoesNotContain(_temp.Check(declared).Diagnostics, d => d.Code == "no-interception-ca" || d.IsError);

        var noDecryption = AzureFoundryTemplate.Render(new AzureFoundryOptions { Watch = false, ToolFqdns = ["mcp.contoso.com"] }) // no URL filter
            .Replace("decrypt: allowed", "decrypt: not-allowed", StringComparison.Ordinal);
        Assert.True(_temp.Check(noDecryption).Succeeded);
        Assert.DoesNotContain(_temp.Check(noDecryption).Diagnostics, d => d.Code == "no-interception-ca");
    }

    [Fact]
    public void The_reference_pack_has_no_lint_findings_but_its_address_only_permit()
    {
        Assert.Empty(Lints(Pack));
        var d = Assert.Single(_temp.Check(Pack).Diagnostics, d => d.Code == "resolves-every-name");
        Assert.Equal(Severity.Warning, d.Severity);
        // One short sentence that says what to do; the trade-off is in 'corral explain --lint resolves-every-name'.
        Assert.Equal("rule 'allow-aca-svctag' permits by address alone: in explicit mode any name its sources ask for on port 443 is resolved", d.Message);
        Assert.Equal("add a web group naming its hosts, or narrow its sources or ports", d.Hint);
        Assert.Contains("'mode: enforce' refuses them", LintCatalog.Find("resolves-every-name")!.Why);
        Assert.Contains("allow-aca-svctag", Pack.Split('\n')[d.Location.Line - 1]);
    }

    [Fact]
    public void Rules_that_let_any_name_through_by_address_are_named_and_name_rules_are_not()
    {
        var diagnostics = _temp.Check("""
            version: 1
            smartGroups:
              agents: { cidrs: [10.20.1.0/24] }
              partner: { cidrs: [52.10.0.0/16] }
            webGroups:
              tools: { domains: [tools.example] }
            rules:
              - { name: allow-tools, priority: 1, source: [agents], webGroups: [tools], action: permit, ports: [443] }
              - { name: allow-partner-by-name, priority: 2, source: [agents], destination: [partner], webGroups: [tools], action: permit }
              - { name: deny-partner-ssh, priority: 3, source: [agents], destination: [partner], action: deny, ports: [22] }
              - { name: allow-partner, priority: 4, source: [agents], destination: [partner], action: permit, ports: [443, "8000-8100"] }
              - { name: watch-internet, priority: 5, source: [agents], destination: [public-internet], action: deny, mode: watch }
              - { name: allow-anything, priority: 6, action: permit }
            """).Diagnostics.Where(d => d.Code == "resolves-every-name").ToList();
        // A watched deny resolves names too until it is promoted, but the warning would say nothing promotion does not.
        Assert.Equal(["allow-partner", "allow-anything"], diagnostics.Select(d => d.Message.Split('\'')[1]));
        Assert.EndsWith("on ports 443, 8000-8100 is resolved", diagnostics[0].Message);
        Assert.EndsWith("on any port is resolved", diagnostics[1].Message);
        Assert.Equal(11, diagnostics[0].Location.Line);
    }

    [Fact]
    public void A_rule_covered_by_an_earlier_rule_is_shadowed()
    {
        var lints = Lints("""
            version: 1
            smartGroups:
              agents: { cidrs: [10.20.0.0/16] }
              one-subnet: { cidrs: [10.20.1.0/24] }
              spoke: { cidrs: [10.30.0.0/16] }
              db: { cidrs: [10.30.5.0/24] }
              other: { cidrs: [10.99.0.0/16] }
            rules:
              - { name: deny-spoke, priority: 1, source: [agents], destination: [spoke], action: deny }
              - { name: deny-db, priority: 2, source: [one-subnet], destination: [db], action: deny, ports: [5432] }
              - { name: allow-db-other, priority: 3, source: [other], destination: [db], action: permit, protocol: udp }
            """);
        var d = Assert.Single(lints);
        Assert.Equal("shadowed-rule", d.Code);
        Assert.Contains("'deny-db'", d.Message);
        Assert.Contains("'deny-spoke'", d.Message);
        Assert.Equal(10, d.Location.Line);
    }

    [Fact]
    public void A_rule_inside_the_union_of_a_threat_feed_is_shadowed_and_one_reaching_outside_it_is_not()
    {
        // Adjacent halves merge into the whole (IPv4 and IPv6); a prefix half outside the union is not covered.
        _temp.Write("feeds/ranges.txt", "10.30.0.128/25\n10.30.0.0/25\n203.0.113.0/24\n2001:db8:1:8000::/49\n2001:db8:1::/49\n255.255.255.0/24\n");
        var lints = Lints("""
            version: 1
            smartGroups:
              agents: { cidrs: [10.20.0.0/16] }
              spoke-24: { cidrs: [10.30.0.0/24] }
              spoke-23: { cidrs: [10.30.0.0/23] }
              v6-net: { cidrs: ["2001:db8:1::/48"] }
              v6-wider: { cidrs: ["2001:db8::/47"] }
              top: { cidrs: [255.255.255.128/25] }
            threatGroups:
              ranges: { feeds: [feeds/ranges.txt] }
            rules:
              - { name: deny-ranges, priority: 1, source: [agents], destination: [ranges], action: deny }
              - { name: deny-spoke-24, priority: 2, source: [agents], destination: [spoke-24], action: deny }
              - { name: deny-spoke-23, priority: 3, source: [agents], destination: [spoke-23], action: deny }
              - { name: deny-v6-net, priority: 4, source: [agents], destination: [v6-net], action: deny }
              - { name: deny-v6-wider, priority: 5, source: [agents], destination: [v6-wider], action: deny }
              - { name: deny-top, priority: 6, source: [agents], destination: [top], action: deny }
            """);
        Assert.All(lints, d => Assert.Equal("shadowed-rule", d.Code));
        Assert.All(lints, d => Assert.Contains("'deny-ranges'", d.Message));
        Assert.Equal(["deny-spoke-24", "deny-v6-net", "deny-top"], lints.Select(d => d.Message.Split('\'')[1]));
    }

    [Fact]
    public void A_permit_after_a_catch_all_deny_is_flagged()
    {
        var yaml = Pack.Replace("""
          # 6. Lateral movement
          """, """
          - { name: allow-late, priority: 7, source: [foundry-agents], webGroups: [aca-requirements-fqdns], action: permit }
          # 6. Lateral movement
          """);
        Assert.NotEqual(Pack, yaml);
        var d = Assert.Single(Lints(yaml));
        Assert.Equal("permit-after-catch-all", d.Code);
        Assert.Contains("default-deny-internet", d.Message);
    }

    [Fact]
    public void Decrypting_Microsoft_platform_names_is_flagged_unless_an_earlier_rule_takes_them()
    {
        var yaml = Pack.Replace("domains: [mcp.contoso.com, api.github.com]", "domains: [mcp.contoso.com, api.github.com, \"*.microsoftonline.com\"]");
        Assert.Empty(Lints(yaml)); // allow-aca-fqdn takes login.microsoftonline.com first
        var swapped = yaml.Replace("name: allow-aca-fqdn, priority: 2", "name: allow-aca-fqdn, priority: 20");
        var d = Assert.Single(Lints(swapped), l => l.Code == "decrypt-pinned");
        Assert.Contains("login.microsoftonline.com", d.Message);
    }

    [Fact]
    public void Platform_names_blocked_by_the_catch_all_are_flagged()
    {
        var yaml = Pack.Replace("\"*.identity.azure.net\", ", "");
        var d = Assert.Single(Lints(yaml));
        Assert.Equal("platform-not-permitted", d.Code);
        Assert.Contains("*.identity.azure.net", d.Message);
        Assert.DoesNotContain("mcr.microsoft.com", d.Message);
    }

    [Fact]
    public void A_catch_all_left_in_watch_mode_is_flagged_and_strict_makes_it_an_error()
    {
        var watched = AzureFoundryTemplate.Render(new AzureFoundryOptions { Watch = true });
        var lints = Lints(watched);
        var d = Assert.Single(lints, l => l.Code == "catch-all-watch");
        Assert.Contains(lints, l => l.Code == "watch-url-filter"); // allow-tool-calls' URL filters are not applied while watched
        Assert.Equal(Severity.Warning, d.Severity);
        // A pack is watch by default, so this is expected on a fresh pack: one short sentence that says what to do.
        Assert.Contains("promote it (mode: enforce)", d.Message);
        Assert.Null(d.Hint);
        var strict = _temp.Check(watched, strict: true);
        Assert.False(strict.Succeeded);
        Assert.Contains(strict.Diagnostics, x => x.Code == "catch-all-watch" && x.IsError);
    }

    [Fact]
    public void A_name_permit_with_its_own_internal_group_is_not_reported_as_shadowed()
    {
        var result = _temp.Check("""
            version: 1
            smartGroups:
              internal-api: { cidrs: [10.40.0.0/16] }
            webGroups:
              api: { domains: [api.contoso.com] }
            rules:
              - { name: allow-api-public, priority: 1, webGroups: [api], action: permit }
              - { name: allow-api-internal, priority: 2, destination: [internal-api], webGroups: [api], action: permit }
            """);
        Assert.DoesNotContain(result.Diagnostics, d => d.Code == "shadowed-rule");
    }

    [Fact]
    public void A_watched_permit_with_URL_filters_is_flagged()
    {
        var result = _temp.Check("""
            version: 1
            webGroups:
              gh: { urls: ["api.github.com/repos/contoso/*"] }
            rules:
              - { name: allow-gh, priority: 1, webGroups: [gh], action: permit, decrypt: allowed, mode: watch }
            """);
        Assert.Contains(result.Diagnostics, d => d.Code == "watch-url-filter");
    }
}

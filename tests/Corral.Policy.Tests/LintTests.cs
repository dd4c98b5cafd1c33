using Corral.Policy.Diagnostics;
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

    private static readonly string Pack = AzureFoundryTemplate.Render(new AzureFoundryOptions());

    private IReadOnlyList<Diagnostic> Lints(string yaml) =>
        _temp.Check(yaml).Diagnostics.Where(d => d.Code != "service-tags-unresolved").ToList();

    [Fact]
    public void The_reference_pack_has_no_lint_findings() => Assert.Empty(Lints(Pack));

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
        var strict = _temp.Check(watched, strict: true);
        Assert.False(strict.Succeeded);
        Assert.Contains(strict.Diagnostics, x => x.Code == "catch-all-watch" && x.IsError);
    }
}

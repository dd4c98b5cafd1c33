using System.Net;
using Corral.Policy.Addressing;
using Corral.Policy.Compilation;
using Corral.Policy.Model;

namespace Corral.Policy.Tests;

/// <summary>Holes a security review found, each kept closed by a test.</summary>
public sealed class ReviewFindingsTests : IDisposable
{
    private readonly TempPolicy _temp = new();

    public void Dispose() => _temp.Dispose();

    [Theory]
    [InlineData("a: {\nb: c\n")]
    [InlineData("rules: [\n  x\ny: 1\n")]
    [InlineData("a: {# x\nb: c\n")]
    public void YAML_that_crashes_the_parser_is_a_located_error(string yaml)
    {
        var result = _temp.Check(yaml);
        Assert.False(result.Succeeded);
        Assert.Contains(result.Diagnostics, d => d.Code == "yaml-syntax" && d.Location.Line > 0);
    }

    [Fact]
    public void A_device_as_a_feed_or_service_tags_file_is_refused_not_read_forever()
    {
        var result = _temp.Check("version: 1\nthreatGroups:\n  bad: { feeds: [/dev/zero] }\nserviceTags: { file: /dev/urandom }\nrules:\n  - { name: r, priority: 1, destination: [bad], action: deny }\n");
        Assert.False(result.Succeeded);
        Assert.Contains(result.Diagnostics, d => d.Code == "service-tags-unreadable" || d.Code == "bad-service-tags");
    }

    [Fact]
    public void A_FIFO_as_a_feed_is_refused_within_moments()
    {
        var fifo = Path.Combine(_temp.Directory, "feed.fifo");
        var made = System.Diagnostics.Process.Start("mkfifo", fifo);
        made.WaitForExit();
        Assert.Equal(0, made.ExitCode);
        var result = _temp.Check("version: 1\nthreatGroups:\n  bad: { feeds: [feed.fifo] }\nrules:\n  - { name: r, priority: 1, destination: [bad], action: deny }\n");
        Assert.Contains(result.Diagnostics, d => d.Code == "feed-unreadable" && d.Message.Contains("regular file"));
    }

    [Theory]
    [InlineData("/repos/contoso//../evil")]
    [InlineData("/repos/contoso/..;/evil")]
    [InlineData("/repos/contoso/x#/../../evil")]
    [InlineData("/repos/contoso/%252e%252e/evil")]
    [InlineData("/repos/contoso/%c0%ae%c0%ae/evil")]
    public void Ambiguous_paths_are_refused_rather_than_normalized_into_a_URL_filter(string target) =>
        Assert.False(UrlPath.TryNormalize(target, out _, out _));

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

    [Fact]
    public void Feed_errors_do_not_echo_the_file_contents()
    {
        _temp.Write("secret.txt", "root:$y$j9T$secrethash:19000:0:99999:7:::\n");
        var result = _temp.Check("version: 1\nthreatGroups:\n  bad: { feeds: [secret.txt] }\nrules:\n  - { name: r, priority: 1, destination: [bad], action: deny }\n");
        Assert.DoesNotContain(result.Diagnostics, d => d.ToString().Contains("secrethash"));
    }

    [Fact]
    public void A_service_tags_file_with_a_byte_order_mark_loads()
    {
        _temp.Write("st.json", "\uFEFF{\"values\":[{\"name\":\"AzureActiveDirectory\",\"properties\":{\"addressPrefixes\":[\"20.190.128.0/18\"]}}]}");
        Assert.True(_temp.Check("version: 1\nsmartGroups:\n  aad: { serviceTag: AzureActiveDirectory }\nserviceTags: { file: st.json }\nrules:\n  - { name: r, priority: 1, destination: [aad], action: permit }\n").Succeeded);
    }

    [Fact]
    public void A_bad_priority_is_one_error_not_two()
    {
        var result = _temp.Check("version: 1\nrules:\n  - { name: a, priority: x, action: deny }\n  - { name: b, priority: 0, action: deny }\n");
        Assert.Single(result.Diagnostics, d => d.IsError);
    }

    [Fact]
    public void Suggestions_stay_fast_on_a_policy_full_of_typos()
    {
        var groups = string.Join("\n", Enumerable.Range(0, 3000).Select(i => $"  g{i}: {{ cidrs: [10.{i / 250}.{i % 250}.0/24] }}"));
        var rules = string.Join("\n", Enumerable.Range(0, 3000).Select(i => $"  - {{ name: r{i}, priority: {i}, source: [x{i}], action: deny }}"));
        var before = GC.GetAllocatedBytesForCurrentThread();
        var result = _temp.Check($"version: 1\nsmartGroups:\n{groups}\nrules:\n{rules}\n");
        Assert.Equal(3000, result.Diagnostics.Count(d => d.Code == "unknown-group"));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 4_000_000_000L);
    }
}

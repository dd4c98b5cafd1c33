using Corral.Policy.Addressing;

namespace Corral.Policy.Tests;

/// <summary>
/// A feed's prefixes are kept one word each (<see cref="PrefixList"/>), not as <see cref="IpPrefix"/> values: what
/// comes back must be every prefix of the feed, in its order, IPv4 and IPv6 alike.
/// </summary>
public sealed class FeedStorageTests : IDisposable
{
    private readonly TempPolicy _temp = new();

    public void Dispose() => _temp.Dispose();

    private static IpPrefix P(string cidr) => IpPrefix.TryParse(cidr, out var p, out var e) ? p : throw new ArgumentException(e);

    /// <summary>Checks a policy whose one threat group reads <paramref name="text"/>; returns the result and that feed.</summary>
    private (CheckResult Result, Policy.Model.ThreatFeed Feed) CheckFeed(string text)
    {
        _temp.Write("feeds/bad.txt", text);
        var result = _temp.Check("""
            version: 1
            threatGroups:
              bad: { feeds: [feeds/bad.txt] }
            rules:
              - { name: deny-bad, priority: 1, destination: [bad], action: deny }
            """);
        Assert.True(result.Succeeded, string.Join("\n", result.Diagnostics));
        return (result, Assert.Single(Assert.Single(result.Document!.ThreatGroups).Feeds));
    }

    [Fact]
    public void A_feed_reads_back_every_prefix_in_order()
    {
        var (_, feed) = CheckFeed(
            "# header\r\n203.0.113.7\r\n2001:db8::/32\n198.51.100.0/24 ; SBL1\n\n::ffff:192.0.2.1\n0.0.0.0 evil.example\n" +
            "0.0.0.0/0\n255.255.255.255\n2001:db8:1::1\n10.0.0.0/8   # trailing comment\n");
        IpPrefix[] expected =
        [
            P("203.0.113.7"), P("2001:db8::/32"), P("198.51.100.0/24"), P("192.0.2.1"), P("0.0.0.0/0"),
            P("255.255.255.255"), P("2001:db8:1::1"), P("10.0.0.0/8"),
        ];
        Assert.Equal(expected, feed.Prefixes);
        Assert.Equal(expected.Length, feed.Prefixes.Count);
        Assert.Equal(expected, Enumerable.Range(0, feed.Prefixes.Count).Select(i => feed.Prefixes[i]));
        Assert.Equal(["evil.example"], feed.Domains);
        Assert.Throws<ArgumentOutOfRangeException>(() => feed.Prefixes[expected.Length]);
        Assert.Throws<ArgumentOutOfRangeException>(() => feed.Prefixes[-1]);
    }

    [Fact]
    public void A_feed_of_names_and_comments_yields_its_one_address_and_its_rule_denies_it()
    {
        var (result, feed) = CheckFeed(string.Concat(Enumerable.Range(0, 1000).Select(i => $"host{i}.evil.example\n# note\n")) + "203.0.113.9\n");
        Assert.Equal([P("203.0.113.9")], feed.Prefixes);
        Assert.Equal(1000, feed.Domains.Count);
        var verdict = result.Compiled!.Decide(new Policy.Compilation.Flow
        {
            Source = System.Net.IPAddress.Parse("10.0.0.1"), Destinations = [System.Net.IPAddress.Parse("203.0.113.9")], Port = 443,
        });
        Assert.Equal("deny-bad", verdict.Rule?.Name);
    }
}

using System.Net;
using Corral.Policy.Model;

namespace Corral.Replay.Tests;

/// <summary>Where suggest may collapse names to a wildcard, and which names it holds back.</summary>
public sealed class PublicSuffixAndRiskTests
{
    [Theory]
    [InlineData("api.tools.example.com", "example.com")]
    [InlineData("a.b.example.co.uk", "example.co.uk")]
    [InlineData("alice.github.io", "alice.github.io")]           // github.io is a public suffix: each user is a registrant
    [InlineData("x.account.blob.core.windows.net", "windows.net")]   // not a listed suffix: suggest's wildcard stops at the siblings' common parent instead
    [InlineData("co.uk", null)]
    [InlineData("internal.test", "internal.test")]               // no rule: the implicit "*" (last label is the suffix)
    public void The_shipped_or_system_list_gives_the_registrable_domain(string host, string? registrable) =>
        Assert.Equal(registrable, PublicSuffixList.Load().RegistrableDomain(host));

    [Fact]
    public void Wildcard_and_exception_rules_follow_the_list_format()
    {
        var list = PublicSuffixList.Parse("test", "// comment\nck\n*.ck\n!www.ck\n公司.cn\ncn\n");
        Assert.Equal("shop.foo.ck", list.RegistrableDomain("a.shop.foo.ck")); // *.ck: foo.ck is a suffix
        Assert.Equal("www.ck", list.RegistrableDomain("a.www.ck"));           // !www.ck: www.ck is registrable
        Assert.Equal("shop.xn--55qx5d.cn", list.RegistrableDomain("a.shop.xn--55qx5d.cn")); // IDN rules compared as punycode
    }

    [Theory]
    [InlineData("x7k2q9vmp4zt8wrb1nc6yd3hsg5fja0e.exfil.example", NameRisk.EncodedLabel)]
    [InlineData("aGVsbG8gd29ybGQgdGhpcyBpcyBhIHZlcnkgbG9uZyBsYWJlbCBpbmRlZWQ.example", NameRisk.EncodedLabel)]
    [InlineData("kubernetes-dashboard.example.com", NameRisk.None)]
    [InlineData("login.microsoftonline.com", NameRisk.None)]
    [InlineData("c2.evil.example", NameRisk.ThreatFeed)]          // below a feed domain
    public void Names_are_flagged_by_shape_and_by_the_policys_threat_feeds(string host, NameRisk expected)
    {
        var feeds = new ThreatGroup("threats", Policy.Diagnostics.SourceLocation.None("p.yaml"),
            [new ThreatFeed("feed.txt", Policy.Diagnostics.SourceLocation.None("p.yaml"), [], ["evil.example"])]);
        var policy = new PolicyDocument("p.yaml", 1, "p", RuleAction.Deny, [], [], [feeds], null, [], "");
        Assert.Equal(expected, new NameRisks(policy).Of(host, []));
        Assert.Equal(NameRisk.IpLiteral, new NameRisks(policy).Of(null, [IPAddress.Parse("203.0.113.9")]));
    }
}

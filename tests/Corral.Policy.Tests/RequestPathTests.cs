using Corral.Policy.Addressing;
using Corral.Policy.Compilation;

namespace Corral.Policy.Tests;

/// <summary>
/// The request path reaches the policy as sent (<see cref="Flow.Path"/>): rules without URL filters never read it,
/// and a URL filter matches only a path that normalizes unambiguously.
/// </summary>
public sealed class RequestPathTests : IDisposable
{
    private const string Agent = "10.20.1.5";
    private readonly TempPolicy _temp = new();
    private readonly CompiledPolicy _policy;

    public RequestPathTests()
    {
        _temp.Write("feeds/bad.txt", DecisionSemanticsTests.Feed);
        _policy = _temp.Compile(DecisionSemanticsTests.Policy); // allow-tools: mcp.contoso.com by domain, api.github.com/repos/contoso/* by URL
    }

    public void Dispose() => _temp.Dispose();

    private Verdict Decide(string host, string target) => _policy.Decide(Flows.To(Agent, host, 443, "198.18.0.10") with { Path = target });

    [Theory]
    [InlineData("/api/v4/projects/group%2Fproject")] // GitLab's encoded project path
    [InlineData("/v1//items")]
    [InlineData("/v1/./items/../x?y=%2F#")]
    [InlineData("/%zz")]
    [InlineData("*")]
    public void A_rule_without_URL_filters_never_reads_the_path(string target)
    {
        var verdict = Decide("mcp.contoso.com", target);
        Assert.Equal("allow-tools", verdict.RuleOf());
        Assert.False(verdict.UrlFiltersPending);
    }

    [Theory]
    [InlineData("/repos/contoso/group%2Fproject")] // encoded slash
    [InlineData("/repos/contoso//x")]              // empty segment
    [InlineData("/repos/contoso/./x")]             // dot segment a server may or may not resolve
    [InlineData("/repos/evil/../contoso/x")]       // would normalize into the filter
    [InlineData("/repos/contoso/%2e%2e/evil")]     // encoded dots
    [InlineData("/repos/contoso/%2E./evil")]
    [InlineData("/repos/contoso/..;/evil")]        // Tomcat-style path parameter on a dot segment
    [InlineData("/repos/contoso/%252e%252e/evil")] // double encoding
    [InlineData("/repos/contoso/%c0%ae%c0%ae/evil")] // overlong UTF-8 dots
    [InlineData("/repos/contoso/x\\..\\y")]        // backslash
    [InlineData("/repos/contoso/x#frag")]
    public void A_URL_filter_refuses_an_ambiguous_path(string target)
    {
        Assert.False(UrlPath.TryNormalize(target, out _, out var error));
        Assert.NotNull(error);
        Assert.Equal("deny-internet", Decide("api.github.com", target).RuleOf());
        // explain says why the URL-filter rule did not match
        var step = _policy.Explain(Flows.To(Agent, "api.github.com", 443, "198.18.0.10") with { Path = target })
            .Addresses[0].Steps.Single(s => s.Rule.Name == "allow-tools");
        Assert.False(step.Matched);
        Assert.Contains($"path {target} on api.github.com is ambiguous ({error}), so it matches no URL filter of tools", step.Detail);
    }

    [Theory]
    [InlineData("/repos/contoso/x?next=/repos/evil/../../x", "/repos/contoso/x")] // the query is not the path
    [InlineData("/repos/contoso/%61gent", "/repos/contoso/agent")]               // unreserved escapes decoded
    [InlineData("/repos/contoso/caf%c3%a9", "/repos/contoso/caf%C3%A9")]          // UTF-8 escapes kept, upper-cased
    [InlineData("/repos/contoso/a;b", "/repos/contoso/a;b")]
    [InlineData("", "/")]
    public void A_URL_filter_matches_a_path_that_normalizes_unambiguously(string target, string normalized)
    {
        Assert.True(UrlPath.TryNormalize(target, out var path, out var error), error);
        Assert.Equal(normalized, path);
        if (target.Length > 0) Assert.Equal("allow-tools", Decide("api.github.com", target).RuleOf());
    }

    [Fact]
    public void A_query_never_changes_which_host_rule_matches()
    {
        Assert.Equal("allow-tools", Decide("mcp.contoso.com", "/login?redirect_uri=https://evil.example/cb").RuleOf());
        Assert.Equal("deny-internet", Decide("attacker.example", "/x?host=mcp.contoso.com").RuleOf());
    }

    [Fact]
    public void A_URL_filter_match_on_a_path_as_sent_allocates_nothing()
    {
        var flows = new[]
        {
            Flows.To(Agent, "api.github.com", 443, "198.18.0.10") with { Path = "/repos/contoso/x?y=1" },
            Flows.To(Agent, "api.github.com", 443, "198.18.0.10") with { Path = "/repos/contoso/caf%C3%A9" },
            Flows.To(Agent, "api.github.com", 443, "198.18.0.10") with { Path = "/repos/evil/../contoso/x" },
        };
        Assert.Equal(0, Flows.AllocatedBy(() => { foreach (var f in flows) _policy.Decide(f); }));
    }

    [Theory]
    [InlineData("/repos/contoso//../evil")]
    [InlineData("/repos/contoso/..;/evil")]
    [InlineData("/repos/contoso/x#/../../evil")]
    [InlineData("/repos/contoso/%252e%252e/evil")]
    [InlineData("/repos/contoso/%c0%ae%c0%ae/evil")]
    public void Ambiguous_paths_are_refused_rather_than_normalized_into_a_URL_filter(string target) =>
        Assert.False(UrlPath.TryNormalize(target, out _, out _));
}

using Corral.Policy.Diagnostics;
using Corral.Policy.Model;

namespace Corral.Policy.Tests;

/// <summary>The credentials section: what it reads, where each credential may go, and every mistake refused at its place.</summary>
public sealed class CredentialsSectionTests : IDisposable
{
    private readonly TempPolicy _temp = new();

    public void Dispose() => _temp.Dispose();

    private const string Groups = """
        version: 1
        smartGroups:
          agents: { cidrs: [10.20.1.0/24] }
        webGroups:
          mcp: { domains: [mcp.contoso.com] }
          github: { urls: [api.github.com/repos/contoso/*] }
          docs: { domains: [learn.microsoft.com] }
        """ + "\n";

    private const string Rules = """
        rules:
          - { name: mcp, priority: 10, source: [agents], webGroups: [mcp, github], action: permit, decrypt: allowed }
          - { name: docs, priority: 20, source: [agents], webGroups: [docs], action: permit }
        """ + "\n";

    private Diagnostic OnlyError(string credentials, string code)
    {
        var result = _temp.Check(Groups + Rules + credentials);
        Assert.False(result.Succeeded);
        return Assert.Single(result.Diagnostics, d => d.IsError && d.Code == code);
    }

    [Fact]
    public void A_credential_names_its_source_destinations_and_placement_and_the_agent_holds_only_its_placeholder()
    {
        var policy = _temp.Compile(Groups + Rules + """
            credentials:
              mcp-token: { source: { file: secrets/mcp.token }, destinations: [mcp], header: Authorization }
              github-key: { source: { env: GITHUB_KEY }, destinations: [github], query: api_key, placeholder: ghp_corral_placeholder_1 }
            """);
        var (mcp, github) = (policy.Document.Credentials[0], policy.Document.Credentials[1]);
        Assert.Equal((CredentialSourceKind.File, "secrets/mcp.token"), (mcp.Source.Kind, mcp.Source.Reference));
        Assert.Equal(new CredentialPlacement(CredentialPlacementKind.Header, "Authorization"), mcp.Placement);
        Assert.Equal("corral-cred-mcp-token", mcp.Placeholder);
        Assert.Equal((CredentialSourceKind.Environment, "GITHUB_KEY", "ghp_corral_placeholder_1"), (github.Source.Kind, github.Source.Reference, github.Placeholder));
        Assert.Equal(new CredentialPlacement(CredentialPlacementKind.Query, "api_key"), github.Placement);

        var compiled = policy.Credentials;
        Assert.Equal("mcp-token", compiled.FindIn("Bearer CORRAL-CRED-MCP-TOKEN")!.Name); // looked for in any case
        Assert.Null(compiled.FindIn("Bearer corral-cred-mcp"));
        Assert.True(compiled.All[0].IsBoundTo("mcp.contoso.com", "/mcp"));
        Assert.False(compiled.All[0].IsBoundTo("evil.example", "/mcp"));
        Assert.False(compiled.All[0].IsBoundTo("x.mcp.contoso.com", "/mcp"));
        // A web group of URL filters binds the credential to those paths only, normalized as the rules read them.
        Assert.True(compiled.All[1].IsBoundTo("api.github.com", "/repos/contoso/app?x=1"));
        Assert.False(compiled.All[1].IsBoundTo("api.github.com", "/repos/other/app"));
        Assert.False(compiled.All[1].IsBoundTo("api.github.com", "/repos/contoso/../other/app"));
        Assert.Equal(["mcp-token"], compiled.BoundTo("mcp.contoso.com", "/").Select(c => c.Name));
    }

    [Fact]
    public void The_resolver_never_forwards_a_name_carrying_a_placeholder()
    {
        var policy = _temp.Compile(Groups + Rules.Replace("webGroups: [docs], action: permit", "destination: [public-internet], action: permit") +
                                   "credentials:\n  t: { source: { env: K }, destinations: [mcp], header: X }\n");
        var source = System.Net.IPAddress.Parse("10.20.1.5");
        Assert.True(policy.Names.Decide(source, "anything.example.com").Forward); // the catch-all permit would forward any name...
        var verdict = policy.Names.Decide(source, "corral-cred-t.attacker.example");
        Assert.False(verdict.Forward); // ...but not one carrying a placeholder
        Assert.Contains("placeholder of credential t", verdict.Reason);
    }

    [Fact]
    public void A_policy_without_credentials_compiles_to_none()
    {
        var policy = _temp.Compile(Groups + Rules);
        Assert.True(policy.Credentials.IsEmpty);
        Assert.Null(policy.Credentials.FindIn("corral-cred-anything"));
    }

    [Fact]
    public void The_section_is_a_mapping_and_a_one_letter_name_still_makes_a_placeholder_long_enough()
    {
        var error = OnlyError("credentials: [a]\n", "bad-type");
        Assert.Equal((11, 14), (error.Location.Line, error.Location.Column));
        var policy = _temp.Compile(Groups + Rules + "credentials:\n  t: { source: { env: K }, destinations: [mcp], header: X }\n");
        Assert.Equal("corral-cred-t", policy.Credentials.All[0].Placeholder);
    }

    [Theory]
    [InlineData("  t: { destinations: [mcp], header: Authorization }", "missing-key", "needs a 'source'")]
    [InlineData("  t: { source: { vault: x }, destinations: [mcp], header: Authorization }", "unknown-key", "unknown key 'vault'")]
    [InlineData("  t: { source: { file: a, env: B }, destinations: [mcp], header: Authorization }", "bad-source", "one of { file: PATH } or { env: VARIABLE }")]
    [InlineData("  t: { source: { env: 1BAD }, destinations: [mcp], header: Authorization }", "bad-source", "not an environment variable's name")]
    [InlineData("  t: { source: { env: K }, header: Authorization }", "missing-key", "needs 'destinations'")]
    [InlineData("  t: { source: { env: K }, destinations: [agents], header: Authorization }", "wrong-group-kind", "'agents' is a smart group; a credential goes to web groups")]
    [InlineData("  t: { source: { env: K }, destinations: [mpc], header: Authorization }", "unknown-group", "unknown web group 'mpc'")]
    [InlineData("  t: { source: { env: K }, destinations: [mcp] }", "missing-key", "'header: NAME' or 'query: NAME'")]
    [InlineData("  t: { source: { env: K }, destinations: [mcp], header: Authorization, query: k }", "bad-placement", "'header: NAME' or 'query: NAME'")]
    [InlineData("  t: { source: { env: K }, destinations: [mcp], header: Host }", "bad-placement", "frames, routes or belongs to one hop")]
    [InlineData("  t: { source: { env: K }, destinations: [mcp], header: Proxy-Authorization }", "bad-placement", "frames, routes or belongs to one hop")]
    [InlineData("  t: { source: { env: K }, destinations: [mcp], header: 'a b' }", "bad-placement", "is not a header name")]
    [InlineData("  t: { source: { env: K }, destinations: [mcp], query: 'a&b' }", "bad-placement", "is not a query parameter's name")]
    [InlineData("  t: { source: { env: K }, destinations: [mcp], header: X, placeholder: short }", "bad-placeholder", "must be 12 to 128")]
    [InlineData("  t: { source: { env: K }, destinations: [mcp], header: X, placeholder: 'has space in it' }", "bad-placeholder", "must be 12 to 128")]
    [InlineData("  t: { source: { env: K }, destinations: [mcp], header: X }\n  u: { source: { env: K }, destinations: [mcp], header: Y, placeholder: xx-corral-cred-t-xx }", "placeholder-overlap", "contains that of credential 't'")]
    [InlineData("  t: { source: { env: K }, destinations: [mcp], header: X, placeholder: same-placeholder }\n  u: { source: { env: K }, destinations: [mcp], header: Y, placeholder: SAME-placeholder }", "placeholder-overlap", "contains that of credential")]
    [InlineData("  t: { source: { env: K }, destinations: [docs], header: X }", "credential-not-decrypted", "rule 'docs' permits without decrypting")]
    [InlineData("  'bad name!': { source: { env: K }, destinations: [mcp], header: X }", "bad-name", "credential name 'bad name!'")]
    public void Each_mistake_is_refused_at_its_place_with_what_would_be_right(string credential, string code, string message)
    {
        var error = OnlyError("credentials:\n" + credential + "\n", code);
        Assert.Contains(message, error.Message);
        Assert.True(error.Location.Line >= 12, error.ToString()); // in the credentials section, not at the top of the file
    }

    [Fact]
    public void A_credential_for_a_web_group_no_permit_names_is_refused()
    {
        var yaml = Groups + "  unused: { domains: [api.example.com] }\n" + Rules + "credentials:\n  t: { source: { env: K }, destinations: [unused], header: X }\n";
        var error = Assert.Single(_temp.Check(yaml).Diagnostics, d => d.IsError);
        Assert.Equal("credential-unreachable", error.Code);
        Assert.Equal((13, 43), (error.Location.Line, error.Location.Column));
    }

    [Fact]
    public void The_section_never_reads_the_secret_a_missing_file_or_variable_is_the_gateways_concern()
    {
        // Checking a policy needs no secret: the file does not exist and the variable is not set where the check runs.
        var policy = _temp.Compile(Groups + Rules + "credentials:\n  t: { source: { file: no/such/file }, destinations: [mcp], header: X }\n" +
                                   "  u: { source: { env: CORRAL_TEST_UNSET_VARIABLE }, destinations: [mcp], header: Y }\n");
        Assert.Equal(2, policy.Credentials.All.Count);
        Assert.DoesNotContain(policy.Document.InputFiles, f => f.Contains("no/such/file"));
    }
}

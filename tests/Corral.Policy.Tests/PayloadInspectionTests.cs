using System.Text;
using Corral.Policy.Inspection;
using Corral.Policy.Model;

namespace Corral.Policy.Tests;

/// <summary>Secret patterns in cleartext requests: built-ins, user patterns, and secrets split across chunks.</summary>
public sealed class PayloadInspectionTests
{
    private static readonly PayloadInspector Default = new(InspectionSettings.Default);

    // Test-only values shaped like real secrets; none is a live credential.
    public static TheoryData<string, string> Secrets => new()
    {
        { "private-key", "{\"data\": \"-----BEGIN RSA PRIVATE KEY-----\\nMIIEow...\"}" },
        { "private-key", "-----BEGIN OPENSSH PRIVATE KEY-----" },
        { "azure-storage-key", "DefaultEndpointsProtocol=https;AccountName=x;AccountKey=" + new string('A', 86) + "==;EndpointSuffix=core.windows.net" },
        { "azure-sas-token", "https://x.blob.core.windows.net/c/b?sv=2022-11-02&ss=b&srt=o&sp=r&se=2026-12-01&sig=abcdefghijklmnopqrstuvwxyz0123456789ABCD%3D" },
        { "aws-access-key", "aws_access_key_id = AKIAIOSFODNN7EXAMPLE" },
        { "jwt", "token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZ2VudCJ9.c2lnbmF0dXJlX2hlcmU" },
    };

    [Theory]
    [MemberData(nameof(Secrets))]
    public void Built_in_patterns_find_their_secret(string pattern, string payload) =>
        Assert.Equal(pattern, Default.Scan(Encoding.UTF8.GetBytes(payload)));

    [Theory]
    [InlineData("{\"query\": \"weather in Oslo\", \"units\": \"metric\"}")]
    [InlineData("POST /mcp HTTP/1.1\r\nHost: mcp.contoso.com\r\nContent-Type: application/json\r\n\r\n{\"jsonrpc\":\"2.0\"}")]
    [InlineData("AKIA1234")] // too short to be an access key id
    public void Ordinary_requests_pass(string payload) => Assert.Null(Default.Scan(Encoding.UTF8.GetBytes(payload)));

    [Fact]
    public void A_secret_split_across_chunks_is_found_before_the_chunk_that_completes_it_is_forwarded()
    {
        var body = Encoding.ASCII.GetBytes(new string('x', 10_000) + "-----BEGIN PRIVATE KEY-----" + new string('y', 100));
        var scan = Default.StartStream();
        var split = 10_000 + 10; // inside the marker
        Assert.Null(scan.Feed(body.AsSpan(0, split)));
        Assert.Equal("private-key", scan.Feed(body.AsSpan(split)));
    }

    [Fact]
    public void A_secret_after_a_megabyte_of_padding_is_still_found()
    {
        var scan = Default.StartStream();
        var padding = Encoding.ASCII.GetBytes(new string('a', 64 * 1024));
        for (var i = 0; i < 16; i++) Assert.Null(scan.Feed(padding));
        Assert.Equal("aws-access-key", scan.Feed(Encoding.ASCII.GetBytes(" AKIAIOSFODNN7EXAMPLE ")));
    }

    [Fact]
    public void The_policy_chooses_built_ins_and_adds_its_own_patterns()
    {
        using var temp = new TempPolicy();
        var compiled = temp.Compile("""
            version: 1
            inspection:
              patterns: [private-key]
              custom:
                - { name: contoso-token, regex: "ctso_[A-Za-z0-9]{32}" }
            rules:
              - { name: r, priority: 1, action: deny }
            """);
        var inspector = new PayloadInspector(compiled.Document.Inspection);
        Assert.Equal("contoso-token", inspector.Scan(Encoding.ASCII.GetBytes("key=ctso_" + new string('Z', 32))));
        Assert.Null(inspector.Scan(Encoding.ASCII.GetBytes("AKIAIOSFODNN7EXAMPLE"))); // not chosen
        Assert.Equal("private-key", inspector.Scan(Encoding.ASCII.GetBytes("-----BEGIN EC PRIVATE KEY-----")));
    }

    [Fact]
    public void Without_an_inspection_section_every_built_in_is_on_and_Authorization_is_skipped()
    {
        using var temp = new TempPolicy();
        var compiled = temp.Compile("version: 1\nrules:\n  - { name: r, priority: 1, action: deny }\n");
        Assert.Equal(BuiltInPatterns.Names, compiled.Document.Inspection.BuiltIns);
        Assert.False(compiled.Document.Inspection.ScanAuthorizationHeader);
    }

    [Theory]
    [InlineData("patterns: [private-keys]", "unknown-pattern")]
    [InlineData("custom: [{ name: x, regex: \"(?=a)b\" }]", "bad-regex")]
    [InlineData("custom: [{ name: jwt, regex: \"x\" }]", "duplicate-pattern")]
    [InlineData("custom: [{ name: x }]", "missing-key")]
    [InlineData("paterns: [jwt]", "unknown-key")]
    public void Bad_inspection_settings_are_located_errors(string body, string code)
    {
        using var temp = new TempPolicy();
        var result = temp.Check($"version: 1\ninspection: {{ {body} }}\nrules:\n  - {{ name: r, priority: 1, action: deny }}\n");
        Assert.False(result.Succeeded);
        var d = Assert.Single(result.Diagnostics, d => d.Code == code);
        Assert.Equal(2, d.Location.Line);
    }
}

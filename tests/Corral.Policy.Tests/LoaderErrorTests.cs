using Corral.Policy.Diagnostics;

namespace Corral.Policy.Tests;

/// <summary>Malformed policies are refused with FILE:LINE:COL and what would be right; all errors in one pass.</summary>
public sealed class LoaderErrorTests : IDisposable
{
    private readonly TempPolicy _temp = new();

    public void Dispose() => _temp.Dispose();

    private const string Header = """
        version: 1
        smartGroups:
          agents: { cidrs: [10.20.1.0/24] }
        webGroups:
          tools: { domains: [mcp.contoso.com] }
        """ + "\n";

    private Diagnostic OnlyError(string yaml, string code)
    {
        var result = _temp.Check(yaml);
        Assert.False(result.Succeeded);
        Assert.Null(result.Compiled);
        return Assert.Single(result.Diagnostics, d => d.IsError && d.Code == code);
    }

    private static void At(Diagnostic d, int line, int column)
    {
        Assert.Equal((line, column), (d.Location.Line, d.Location.Column));
        Assert.EndsWith("corral.yaml", d.Location.File);
        Assert.Matches(@"corral\.yaml:\d+:\d+: error: ", d.ToString());
    }

    [Fact]
    public void The_tls_section_reads_its_ech_handling_refuse_by_default_and_refuses_what_it_does_not_know()
    {
        const string rules = "rules:\n  - { name: r, priority: 1, source: [agents], webGroups: [tools], action: permit }\n";
        Assert.Equal(Corral.Policy.Model.EchHandling.Refuse, _temp.Check(Header + rules).Compiled!.Document.Tls.Ech);
        Assert.Equal(Corral.Policy.Model.EchHandling.Intercept, _temp.Check(Header + rules + "tls: { ech: intercept }\n").Compiled!.Document.Tls.Ech);
        At(OnlyError(Header + rules + "tls: { ech: allow }\n", "bad-value"), 8, 13);
        At(OnlyError(Header + rules + "tls: { echo: refuse }\n", "unknown-key"), 8, 8);
    }

    [Fact]
    public void The_tls_section_reads_the_interception_ca_certificate_relative_to_the_policy_and_keeps_the_bytes_it_checked()
    {
        const string rules = "rules:\n  - { name: r, priority: 1, source: [agents], webGroups: [tools], action: permit, decrypt: allowed }\n";
        var (certificate, _) = Corral.Testing.TestCertificates.CaPem();
        var path = _temp.Write("corral-ca/corral-ca.crt", certificate);
        var result = _temp.Check(Header + rules + "tls: { interceptionCa: corral-ca/corral-ca.crt }\n");
        Assert.True(result.Succeeded, string.Join("\n", result.Diagnostics));
        var ca = result.Compiled!.Document.Tls.InterceptionCa!;
        Assert.Equal(("corral-ca/corral-ca.crt", certificate, 8, 24), (ca.Path, ca.Pem, ca.Location.Line, ca.Location.Column));
        Assert.Contains(path, result.Compiled.Document.InputFiles); // a reload sees a new certificate
        Assert.Null(_temp.Check(Header + rules).Compiled!.Document.Tls.InterceptionCa);
    }

    [Fact]
    public void An_interception_ca_that_is_missing_unreadable_not_a_pem_certificate_not_a_ca_or_carries_a_key_is_refused_at_its_line()
    {
        const string rules = "rules:\n  - { name: r, priority: 1, source: [agents], webGroups: [tools], action: permit, decrypt: allowed }\n";
        const string tls = "tls:\n  ech: refuse\n  interceptionCa: ca.crt\n"; // the path at 10:19
        var (certificate, key) = Corral.Testing.TestCertificates.CaPem();
        Diagnostic Refused(string code, string? fileText, string because)
        {
            File.Delete(Path.Combine(_temp.Directory, "ca.crt"));
            if (fileText is not null) _temp.Write("ca.crt", fileText);
            var d = OnlyError(Header + rules + tls, code);
            At(d, 10, 19);
            Assert.Contains(because, d.Message);
            return d;
        }

        Assert.Contains("corral ca init", Refused("ca-not-found", null, "interception CA certificate 'ca.crt' not found").Hint);
        System.IO.Directory.CreateDirectory(Path.Combine(_temp.Directory, "ca.crt"));
        At(OnlyError(Header + rules + tls, "ca-unreadable"), 10, 19);
        System.IO.Directory.Delete(Path.Combine(_temp.Directory, "ca.crt"));
        Refused("ca-unreadable", new string('A', 64 * 1024 + 1), "the limit is");
        Refused("bad-ca", "not a certificate\n", "is not a PEM certificate");
        Refused("bad-ca", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "does not parse");
        Refused("bad-ca", "caf\u00e9\n" + certificate, "not ASCII");
        using (var leaf = Corral.Testing.TestCertificates.SelfSigned("mcp.contoso.com"))
            Refused("bad-ca", leaf.ExportCertificatePem() + "\n", "is not a CA certificate");
        Refused("bad-ca", certificate + key, "holds a private key");
        Refused("bad-ca", key + certificate, "holds a private key");
        Refused("bad-ca", certificate + "-----BEGIN PRIVATE KEY-----\nnot base64!\n-----END PRIVATE KEY-----\n", "holds a private key");
        Refused("bad-ca", certificate + "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n", "'X509 CRL' block");
        At(OnlyError(Header + rules + "tls: { interceptionCa: [ca.crt] }\n", "bad-type"), 8, 24);
    }

    [Fact]
    public void The_dns_section_reads_its_mode_and_refuses_what_it_does_not_know()
    {
        const string rules = "rules:\n  - { name: r, priority: 1, source: [agents], webGroups: [tools], action: permit }\n";
        Assert.Equal(Corral.Policy.Model.RuleMode.Watch, _temp.Check(Header + rules).Compiled!.Document.Dns.Mode);
        Assert.Equal(Corral.Policy.Model.RuleMode.Enforce, _temp.Check(Header + rules + "dns: { mode: enforce }\n").Compiled!.Document.Dns.Mode);
        At(OnlyError(Header + rules + "dns: { mode: strict }\n", "bad-value"), 8, 14);
        At(OnlyError(Header + rules + "dns: { mdoe: enforce }\n", "unknown-key"), 8, 8);
        At(OnlyError(Header + rules + "dns: enforce\n", "bad-type"), 8, 6);
    }

    [Fact]
    public void A_typo_in_a_key_is_located_and_corrected()
    {
        var d = OnlyError(Header + "rules:\n  - { name: r, priority: 1, webgroups: [tools], action: permit }\n", "unknown-key");
        At(d, 7, 29);
        Assert.Equal("did you mean 'webGroups'?", d.Hint);
    }

    [Fact]
    public void A_top_level_typo_is_located()
    {
        var d = OnlyError(Header + "rule:\n  - { name: r, priority: 1, action: deny }\n", "unknown-key");
        At(d, 6, 1);
        Assert.Equal("did you mean 'rules'?", d.Hint);
    }

    [Fact]
    public void Unknown_groups_suggest_the_closest_name()
    {
        var d = OnlyError(Header + "rules:\n  - { name: r, priority: 1, source: [agent], action: deny }\n", "unknown-group");
        At(d, 7, 38);
        Assert.Equal("did you mean 'agents'?", d.Hint);
    }

    [Fact]
    public void A_group_used_in_the_wrong_field_says_where_it_belongs()
    {
        var d = OnlyError(Header + "rules:\n  - { name: r, priority: 1, destination: [tools], action: deny }\n", "wrong-group-kind");
        Assert.Equal("move it to 'webGroups'", d.Hint);
    }

    [Fact]
    public void Duplicate_group_names_are_refused_across_kinds()
    {
        var d = OnlyError(Header.Replace("tools:", "agents:") + "rules:\n  - { name: r, priority: 1, action: deny }\n", "duplicate-group");
        At(d, 5, 3);
    }

    [Fact]
    public void Duplicate_keys_in_a_mapping_are_refused() =>
        At(OnlyError(Header + "rules:\n  - { name: r, priority: 1, priority: 2, action: deny }\n", "duplicate-key"), 7, 29);

    [Fact]
    public void Equal_priorities_are_an_error_naming_both_rules()
    {
        var d = OnlyError(Header + "rules:\n  - { name: a, priority: 3, action: deny }\n  - { name: b, priority: 3, action: deny }\n", "duplicate-priority");
        At(d, 8, 26);
        Assert.Contains("'a'", d.Message);
    }

    [Theory]
    [InlineData("10.20.1.5/24", "did you mean 10.20.1.0/24?")]
    [InlineData("10.20.1.0/33", "prefix length")]
    [InlineData("10.20.1/24", "four dotted decimal parts")]
    [InlineData("010.20.1.0/24", "leading zeros")]
    [InlineData("fd00::/129", "prefix length")]
    [InlineData("not-an-ip", "four dotted")]
    public void Bad_CIDRs_are_refused_with_what_would_be_right(string cidr, string expected)
    {
        var d = OnlyError(Header.Replace("10.20.1.0/24", cidr) + "rules:\n  - { name: r, priority: 1, action: deny }\n", "bad-cidr");
        At(d, 3, 21);
        Assert.Contains(expected, d.Message);
    }

    [Theory]
    [InlineData("\"*\"")]
    [InlineData("\"*x.com\"")]
    [InlineData("\"a.*.com\"")]
    [InlineData("\"*.*.com\"")]
    [InlineData("a..com")]
    [InlineData(".a.com")]
    [InlineData("\"exa mple.com\"")]
    [InlineData("10.0.0.1")]
    public void Bad_FQDN_patterns_are_refused(string domain) =>
        At(OnlyError(Header.Replace("mcp.contoso.com", domain) + "rules:\n  - { name: r, priority: 1, action: deny }\n", "bad-domain"), 5, 22);

    [Fact]
    public void Names_over_253_characters_and_labels_over_63_are_refused()
    {
        var longName = string.Join('.', Enumerable.Repeat(new string('a', 60), 5));
        Assert.Contains("at most 253", OnlyError(Header.Replace("mcp.contoso.com", longName) + "rules:\n  - { name: r, priority: 1, action: deny }\n", "bad-domain").Message);
        var longLabel = new string('b', 64) + ".com";
        Assert.Contains("at most 63", OnlyError(Header.Replace("mcp.contoso.com", longLabel) + "rules:\n  - { name: r, priority: 1, action: deny }\n", "bad-domain").Message);
    }

    [Fact]
    public void Decrypt_on_a_deny_rule_is_refused() =>
        At(OnlyError(Header + "rules:\n  - { name: r, priority: 1, webGroups: [tools], action: deny, decrypt: allowed }\n", "decrypt-on-deny"), 7, 72);

    [Fact]
    public void URL_filters_on_a_rule_that_cannot_decrypt_are_refused()
    {
        var yaml = Header.Replace("{ domains: [mcp.contoso.com] }", "{ urls: [\"api.github.com/repos/contoso/*\"] }") +
                   "rules:\n  - { name: r, priority: 1, webGroups: [tools], action: permit }\n";
        var d = OnlyError(yaml, "url-filter-needs-decrypt");
        At(d, 7, 41);
        Assert.Contains("decrypt: allowed", d.Hint);
    }

    [Theory]
    [InlineData("[70000]")]
    [InlineData("[0]")]
    [InlineData("[\"443-80\"]")]
    [InlineData("[https]")]
    public void Ports_out_of_range_are_refused(string ports) =>
        OnlyError(Header + $"rules:\n  - {{ name: r, priority: 1, action: deny, ports: {ports} }}\n", "bad-port");

    [Fact]
    public void Bad_enum_values_suggest_the_right_word()
    {
        var d = OnlyError(Header + "rules:\n  - { name: r, priority: 1, action: permitt }\n", "bad-value");
        Assert.Equal("did you mean 'permit'?", d.Hint);
    }

    [Fact]
    public void A_missing_feed_file_is_located_at_its_reference()
    {
        var d = OnlyError(Header + "threatGroups:\n  bad: { feeds: [feeds/missing.txt] }\nrules:\n  - { name: r, priority: 1, destination: [bad], action: deny }\n", "feed-not-found");
        At(d, 7, 18);
    }

    [Fact]
    public void A_bad_feed_line_is_located_in_the_feed_file()
    {
        _temp.Write("feeds/bad.txt", "# header\n198.51.100.7\n  not a domain!\n10.0.0.0/33\n");
        var result = _temp.Check(Header + "threatGroups:\n  bad: { feeds: [feeds/bad.txt] }\nrules:\n  - { name: r, priority: 1, destination: [bad], action: deny }\n");
        var errors = result.Diagnostics.Where(d => d.Code == "bad-feed-entry").ToList();
        Assert.Equal(2, errors.Count);
        Assert.EndsWith("bad.txt", errors[0].Location.File);
        Assert.Equal((3, 3), (errors[0].Location.Line, errors[0].Location.Column));
        Assert.Equal(4, errors[1].Location.Line);
        Assert.Null(result.Document);
    }

    private const string ServiceTagsJson = """
        { "changeNumber": 321, "cloud": "Public", "values": [
          { "name": "AzureActiveDirectory", "id": "AzureActiveDirectory", "properties": { "changeNumber": 9, "region": "", "platform": "Azure", "systemService": "AzureAD", "addressPrefixes": ["20.190.128.0/18", "2603:1006:2000::/48"] } },
          { "name": "MicrosoftContainerRegistry", "id": "MicrosoftContainerRegistry", "properties": { "region": "", "systemService": "MicrosoftContainerRegistry", "addressPrefixes": ["20.38.0.0/16"] } },
          { "name": "MicrosoftContainerRegistry.EastUS", "id": "MicrosoftContainerRegistry.EastUS", "properties": { "region": "eastus", "systemService": "MicrosoftContainerRegistry", "addressPrefixes": ["20.42.0.0/24"] } }
        ] }
        """;

    [Fact]
    public void Service_tags_resolve_globally_regionally_and_by_regional_name()
    {
        _temp.Write("tags/st.json", ServiceTagsJson);
        var compiled = _temp.Compile("""
            version: 1
            smartGroups:
              aad: { serviceTag: AzureActiveDirectory }
              mcr: { serviceTag: MicrosoftContainerRegistry }
              mcr-east: { serviceTag: MicrosoftContainerRegistry.EastUS }
            serviceTags: { file: tags/st.json, region: eastus }
            rules:
              - { name: aad, priority: 1, destination: [aad], action: permit }
              - { name: mcr, priority: 2, destination: [mcr], action: permit }
              - { name: mcr-east, priority: 3, destination: [mcr-east], action: permit }
            """);
        Assert.Equal("aad", compiled.Decide(Flows.To("10.0.0.1", null, 443, "20.190.130.1")).RuleOf());
        Assert.Equal("aad", compiled.Decide(Flows.To("10.0.0.1", null, 443, "2603:1006:2000::5")).RuleOf());
        // Container registries are never narrowed to the policy's region (image layers come from other regions' endpoints,
        // as Microsoft's Azure Container Apps firewall guidance lists the global tags); a regional name is taken as written.
        Assert.Equal("mcr", compiled.Decide(Flows.To("10.0.0.1", null, 443, "20.38.0.9")).RuleOf());
        Assert.Equal("mcr-east", compiled.Decide(Flows.To("10.0.0.1", null, 443, "20.42.0.9")).RuleOf());
        Assert.Equal("(default)", compiled.Decide(Flows.To("10.0.0.1", null, 443, "20.50.0.9")).RuleOf());
        Assert.Equal("MicrosoftContainerRegistry", compiled.Document.SmartGroups[1].ServiceTagResolvedName);
        Assert.Equal("MicrosoftContainerRegistry.EastUS", compiled.Document.SmartGroups[2].ServiceTagResolvedName);
        Assert.Equal("321", compiled.Document.ServiceTags!.ChangeNumber);
        Assert.Equal([Path.Combine(_temp.Directory, "corral.yaml"), Path.Combine(_temp.Directory, "tags", "st.json")], compiled.Document.InputFiles);
    }

    [Fact]
    public void A_service_tag_missing_from_the_file_is_an_error_with_a_suggestion()
    {
        _temp.Write("tags/st.json", ServiceTagsJson);
        var d = OnlyError("version: 1\nsmartGroups:\n  aad: { serviceTag: AzureActiveDirectry }\nserviceTags: { file: tags/st.json }\nrules:\n  - { name: r, priority: 1, destination: [aad], action: permit }\n", "unknown-service-tag");
        At(d, 3, 22);
        Assert.Equal("did you mean 'AzureActiveDirectory'?", d.Hint);
    }

    [Fact]
    public void A_configured_but_missing_service_tags_file_is_an_error() =>
        At(OnlyError("version: 1\nsmartGroups:\n  aad: { serviceTag: AzureActiveDirectory }\nserviceTags: { file: tags/none.json }\nrules:\n  - { name: r, priority: 1, action: deny }\n", "service-tags-not-found"), 4, 22);

    [Fact]
    public void Service_tags_without_a_file_are_only_a_warning()
    {
        var result = _temp.Check("version: 1\nsmartGroups:\n  aad: { serviceTag: AzureActiveDirectory }\nrules:\n  - { name: r, priority: 1, destination: [aad], action: permit }\n");
        Assert.True(result.Succeeded);
        Assert.Equal(Severity.Warning, result.Single("service-tags-unresolved").Severity);
    }

    [Theory]
    [InlineData("[1, 2, 3]", "not an object")]
    [InlineData("{\"values\": [ {\"name\": \"x\"} ]}", "lacks")]
    [InlineData("{\"values\": [ {\"name\": \"x\", \"properties\": {\"addressPrefixes\": [\"nope\"]}} ]}", "not a CIDR")]
    [InlineData("{\"values\": [", "not valid JSON")]
    public void A_service_tags_file_of_the_wrong_shape_is_refused(string json, string expected)
    {
        _temp.Write("tags/st.json", json);
        var d = OnlyError("version: 1\nsmartGroups:\n  aad: { serviceTag: AzureActiveDirectory }\nserviceTags: { file: tags/st.json }\nrules:\n  - { name: r, priority: 1, action: deny }\n", "bad-service-tags");
        Assert.Contains(expected == "not an object" ? "expected an object" : expected, d.Message);
    }

    [Fact]
    public void Every_error_is_reported_in_one_pass()
    {
        var result = _temp.Check("""
            version: 1
            smartGroups:
              agents: { cidrs: [10.20.1.5/24] }
            webGroups:
              tools: { domains: ["*x.com"] }
            rules:
              - { name: a, priority: 1, source: [agentz], action: deny }
              - { name: b, priority: 1, action: permit, ports: [99999], decrypt: allowed, mode: wach }
            """);
        var codes = result.Diagnostics.Where(d => d.IsError).Select(d => d.Code).Order().ToList();
        Assert.Equal(["bad-cidr", "bad-domain", "bad-port", "bad-value", "duplicate-priority", "unknown-group"], codes);
        Assert.Null(result.Document);
    }

    [Fact]
    public void A_missing_policy_file_says_how_to_make_one()
    {
        var result = PolicyChecker.CheckFile(Path.Combine(_temp.Directory, "nope.yaml"));
        Assert.Contains("corral init", result.Single("file-not-found").Hint);
    }

    [Fact]
    public void A_bad_priority_is_one_error_not_two()
    {
        var result = _temp.Check("version: 1\nrules:\n  - { name: a, priority: x, action: deny }\n  - { name: b, priority: 0, action: deny }\n");
        Assert.Single(result.Diagnostics, d => d.IsError);
    }

    [Fact]
    public void A_service_tags_file_with_a_byte_order_mark_loads()
    {
        _temp.Write("st.json", "\uFEFF{\"values\":[{\"name\":\"AzureActiveDirectory\",\"properties\":{\"addressPrefixes\":[\"20.190.128.0/18\"]}}]}");
        Assert.True(_temp.Check("version: 1\nsmartGroups:\n  aad: { serviceTag: AzureActiveDirectory }\nserviceTags: { file: st.json }\nrules:\n  - { name: r, priority: 1, destination: [aad], action: permit }\n").Succeeded);
    }
}

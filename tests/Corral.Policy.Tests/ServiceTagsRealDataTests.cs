using System.IO.Compression;
using System.Net;
using System.Text.Json;
using Corral.Policy.Loading;
using Corral.Policy.Templates;

namespace Corral.Policy.Tests;

/// <summary>Microsoft's real Service Tags file (changeNumber 360, data/README.md), read with a parser that is not Corral's.</summary>
internal static class RealServiceTags
{
    public const string ChangeNumber = "360";
    public const string RelativePath = "tags/ServiceTags_Public.json";

    private static readonly Lazy<string> TextOnce = new(() =>
    {
        using var gz = new GZipStream(File.OpenRead(Path.Combine(AppContext.BaseDirectory, "data", "ServiceTags_Public_360.json.gz")), CompressionMode.Decompress);
        return new StreamReader(gz).ReadToEnd();
    });

    private static readonly Lazy<IReadOnlyDictionary<string, (string Region, string[] Prefixes)>> TagsOnce = new(() =>
    {
        using var doc = JsonDocument.Parse(Text);
        return doc.RootElement.GetProperty("values").EnumerateArray().ToDictionary(
            v => v.GetProperty("name").GetString()!,
            v => (v.GetProperty("properties").GetProperty("region").GetString()!,
                  v.GetProperty("properties").GetProperty("addressPrefixes").EnumerateArray().Select(p => p.GetString()!).ToArray()));
    });

    public static string Text => TextOnce.Value;

    /// <summary>Tag name → (region, prefixes), exactly as the file says.</summary>
    public static IReadOnlyDictionary<string, (string Region, string[] Prefixes)> Tags => TagsOnce.Value;

    public static bool Covers(string tag, IPAddress address) => Tags[tag].Prefixes.Any(p => IPNetwork.Parse(p).Contains(address));

    /// <summary>An address inside a prefix of the tag (the prefix's second address, or its only one).</summary>
    public static IPAddress Inside(string prefix)
    {
        var network = IPNetwork.Parse(prefix);
        var bytes = network.BaseAddress.GetAddressBytes();
        if (network.PrefixLength < bytes.Length * 8) bytes[^1] |= 1;
        return new IPAddress(bytes);
    }
}

/// <summary>
/// Service tags on Microsoft's real file: resolution (global, regional, IPv6), explain, the Foundry pack's
/// allow-aca-svctag rule the lab replays, and the reader's refusals of damaged copies with their FILE:LINE:COL.
/// </summary>
public sealed class ServiceTagsRealDataTests : IDisposable
{
    private const string Agent = "10.20.1.5";
    private readonly TempPolicy _temp = new();

    public void Dispose() => _temp.Dispose();

    private void WriteTags(string? text = null) => _temp.Write(RealServiceTags.RelativePath, text ?? RealServiceTags.Text);

    private static string Policy(string serviceTags, string tag = "AzureActiveDirectory") => $$"""
        version: 1
        smartGroups:
          agents: { cidrs: [10.20.1.0/24] }
          tagged: { serviceTag: {{tag}} }
        serviceTags: {{serviceTags}}
        rules:
          - { name: tagged, priority: 1, source: [agents], destination: [tagged], ports: [443], action: permit }
        """;

    private const string FileEastUs = "{ file: " + RealServiceTags.RelativePath + ", region: eastus }";

    [Fact]
    public void The_real_file_loads_whole_with_its_change_number_and_cloud()
    {
        WriteTags();
        var document = _temp.Compile(Policy(FileEastUs)).Document;
        Assert.Equal(RealServiceTags.ChangeNumber, document.ServiceTags!.ChangeNumber);
        Assert.Equal("Public", document.ServiceTags.Cloud);
        var aad = document.SmartGroups.Single(g => g.Name == "tagged");
        Assert.Equal(RealServiceTags.Tags["AzureActiveDirectory"].Prefixes.Length, aad.ServicePrefixes.Count);
        Assert.Equal(RealServiceTags.Tags["AzureActiveDirectory"].Prefixes, aad.ServicePrefixes.Select(p => p.ToString()));
    }

    [Theory]
    [InlineData("AzureActiveDirectory", "AzureActiveDirectory")] // no regional ranges: the global tag
    [InlineData("AzureFrontDoor.FirstParty", "AzureFrontDoor.FirstParty")]
    [InlineData("MicrosoftContainerRegistry", "MicrosoftContainerRegistry")] // global, as Microsoft's ACA firewall guidance lists it
    [InlineData("AzureContainerRegistry", "AzureContainerRegistry")]
    public void Every_prefix_of_the_resolved_tag_decides_and_nothing_outside_it(string tag, string resolved)
    {
        WriteTags();
        var compiled = _temp.Compile(Policy(FileEastUs, tag));
        Assert.Equal(resolved, compiled.Document.SmartGroups.Single(g => g.Name == "tagged").ServiceTagResolvedName);
        foreach (var prefix in RealServiceTags.Tags[resolved].Prefixes)
        {
            var inside = RealServiceTags.Inside(prefix);
            Assert.True(compiled.Decide(Flows.To(Agent, null, 443, inside.ToString())).RuleOf() == "tagged", $"{inside} in {prefix} of {resolved}");
        }
        if (resolved == tag) return;
        // The global tag's ranges outside the region's are not the policy's: the region pins them away.
        var elsewhere = RealServiceTags.Tags[tag].Prefixes.Select(RealServiceTags.Inside).First(a => !RealServiceTags.Covers(resolved, a));
        Assert.Equal("(default)", compiled.Decide(Flows.To(Agent, null, 443, elsewhere.ToString())).RuleOf());
    }

    [Fact]
    public void Explain_names_the_service_tag_group_of_a_real_address()
    {
        WriteTags();
        var compiled = _temp.Compile(Policy(FileEastUs, "MicrosoftContainerRegistry"));
        var address = RealServiceTags.Inside(RealServiceTags.Tags["MicrosoftContainerRegistry.EastUS"].Prefixes[0]).ToString();
        var explanation = compiled.Explain(Flows.To(Agent, null, 443, address));
        Assert.Equal("tagged", explanation.Verdict.Rule?.Name);
        Assert.Contains("tagged", explanation.Addresses.Single().Groups);
        Assert.Contains(explanation.Addresses.Single().Steps, s => s.Matched && s.Rule.Name == "tagged");
    }

    [Fact]
    public void The_Foundry_packs_svctag_rule_permits_the_platform_ranges_the_lab_relies_on()
    {
        WriteTags();
        foreach (var feed in AzureFoundryTemplate.ThreatFeedFiles) _temp.Write(feed, AzureFoundryTemplate.FeedFileText("x"));
        var pack = AzureFoundryTemplate.Render(new AzureFoundryOptions())
            .Replace("# file: servicetags/ServiceTags_Public.json", "file: " + RealServiceTags.RelativePath, StringComparison.Ordinal);
        Assert.Contains("file: " + RealServiceTags.RelativePath, pack);
        var compiled = _temp.Compile(pack);
        foreach (var tag in new[] { "AzureActiveDirectory", "MicrosoftContainerRegistry.EastUS", "AzureFrontDoor.FirstParty", "AzureContainerRegistry.EastUS" })
        foreach (var prefix in RealServiceTags.Tags[tag].Prefixes.Where((_, i) => i % 7 == 0))
        {
            var address = RealServiceTags.Inside(prefix).ToString();
            Assert.True(compiled.Decide(Flows.To(Agent, null, 443, address)).RuleOf() == "allow-aca-svctag", $"{address} ({tag}) on 443");
            // The rule is for HTTPS only: the same address on another port falls to the default deny.
            Assert.Equal("default-deny-internet", compiled.Decide(Flows.To(Agent, null, 8080, address)).RuleOf());
        }
    }

    // ---- damaged copies of the real file --------------------------------------------------------------

    private static (int Line, int Column) LineAndColumn(string text, int index)
    {
        var lineStart = text.LastIndexOf('\n', index - 1) + 1;
        return (text.Take(index).Count(c => c == '\n') + 1, index - lineStart + 1);
    }

    [Theory]
    [InlineData("40.71.10.300/29", "not a CIDR")]
    [InlineData("40.71.10.209/29", "host bits are set; did you mean 40.71.10.208/29?")]
    public void A_bad_prefix_is_refused_at_its_line_and_column(string bad, string expected)
    {
        var text = RealServiceTags.Text;
        var index = text.IndexOf("\"40.71.10.208/29\"", StringComparison.Ordinal);
        WriteTags(text[..index] + $"\"{bad}\"" + text[(index + "\"40.71.10.208/29\"".Length)..]);
        var (line, column) = LineAndColumn(text, index);
        var error = Assert.Single(_temp.Check(Policy(FileEastUs)).Diagnostics, d => d.IsError);
        Assert.Equal("bad-service-tags", error.Code);
        Assert.Equal((line, column), (error.Location.Line, error.Location.Column));
        Assert.EndsWith(RealServiceTags.RelativePath, error.Location.File.Replace('\\', '/'));
        Assert.Contains($"tag MicrosoftContainerRegistry: '{bad}'", error.Message);
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void A_tag_name_given_twice_is_refused_with_both_places()
    {
        var text = RealServiceTags.Text;
        var first = text.IndexOf("\"name\": \"AzureActiveDirectory\"", StringComparison.Ordinal) + "\"name\": ".Length;
        // A second entry of the same name (in other case: names match case-insensitively) at the end of values.
        var end = text.LastIndexOf(']');
        var duplicate = ",\n    {\n      \"name\": \"azureActiveDirectory\",\n      \"properties\": { \"region\": \"\", \"addressPrefixes\": [\"198.51.100.0/24\"] }\n    }\n  ";
        var damaged = text[..end].TrimEnd() + duplicate + text[end..];
        WriteTags(damaged);
        var second = damaged.IndexOf("\"azureActiveDirectory\"", StringComparison.Ordinal);
        var error = Assert.Single(_temp.Check(Policy(FileEastUs)).Diagnostics, d => d.IsError);
        var (line, column) = LineAndColumn(damaged, second);
        var (firstLine, firstColumn) = LineAndColumn(text, first);
        Assert.Equal((line, column), (error.Location.Line, error.Location.Column));
        Assert.Contains("tag azureActiveDirectory is defined twice", error.Message);
        Assert.Contains($":{firstLine}:{firstColumn}", error.Message);
    }

    [Fact]
    public void A_file_of_another_cloud_is_refused_unless_the_policy_says_that_cloud()
    {
        var government = RealServiceTags.Text.Replace("\"cloud\": \"Public\"", "\"cloud\": \"AzureGovernment\"", StringComparison.Ordinal);
        Assert.NotEqual(RealServiceTags.Text, government);
        WriteTags(government);
        var error = Assert.Single(_temp.Check(Policy(FileEastUs)).Diagnostics, d => d.IsError);
        Assert.Equal("service-tags-cloud", error.Code);
        Assert.Contains("is for cloud 'AzureGovernment'", error.Message);
        Assert.Contains("the policy is for 'Public'", error.Message);
        Assert.Equal(5, error.Location.Line); // at serviceTags.file

        var matching = _temp.Compile(Policy("{ file: " + RealServiceTags.RelativePath + ", region: usgovvirginia, cloud: AzureGovernment }"));
        Assert.Equal("AzureGovernment", matching.Document.ServiceTags!.Cloud);

        WriteTags();
        Assert.Equal("service-tags-cloud", Assert.Single(_temp.Check(Policy("{ file: " + RealServiceTags.RelativePath + ", cloud: azuregovernment }")).Diagnostics, d => d.IsError).Code);
        var typo = Assert.Single(_temp.Check(Policy("{ file: " + RealServiceTags.RelativePath + ", cloud: Pubic }")).Diagnostics, d => d.IsError);
        Assert.Equal("bad-value", typo.Code);
        Assert.Equal("did you mean 'Public'?", typo.Hint);
    }

    // ---- spelling -------------------------------------------------------------------------------------

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_tag_is_carried_on_as_Microsoft_spells_it(bool withFile)
    {
        if (withFile) WriteTags();
        var serviceTags = withFile ? FileEastUs : "{ region: eastus }";
        var aad = _temp.Compile(Policy(serviceTags, "azureactivedirectory")).Document.SmartGroups.Single(g => g.Name == "tagged");
        Assert.Equal("AzureActiveDirectory", aad.ServiceTag!.Value);
        Assert.Equal("AzureActiveDirectory", aad.ServiceTagResolvedName);
        var mcr = _temp.Compile(Policy(serviceTags, "MICROSOFTCONTAINERREGISTRY")).Document.SmartGroups.Single(g => g.Name == "tagged");
        Assert.Equal("MicrosoftContainerRegistry", mcr.ServiceTag!.Value);
        Assert.Equal("MicrosoftContainerRegistry", mcr.ServiceTagResolvedName); // never narrowed to the region (ACA guidance)
    }

    [Fact]
    public void Without_a_file_an_unknown_tag_is_a_warning_with_a_suggestion()
    {
        var result = _temp.Check(Policy("{ region: eastus }", "AzureActiveDirectry"));
        Assert.True(result.Succeeded);
        var warning = result.Single("unknown-service-tag");
        Assert.Contains($"changeNumber {RealServiceTags.ChangeNumber}", warning.Message);
        Assert.Equal("did you mean 'AzureActiveDirectory'?", warning.Hint);
        Assert.Null(result.Document!.SmartGroups.Single(g => g.Name == "tagged").ServiceTagResolvedName);
    }

    [Fact]
    public void Without_a_file_another_clouds_tag_is_taken_as_written_not_from_the_Public_list()
    {
        var result = _temp.Check(Policy("{ region: usgovvirginia, cloud: AzureGovernment }", "azureactivedirectory"));
        Assert.True(result.Succeeded);
        Assert.DoesNotContain(result.Diagnostics, d => d.Code == "unknown-service-tag");
        var group = result.Document!.SmartGroups.Single(g => g.Name == "tagged");
        Assert.Equal("azureactivedirectory", group.ServiceTag!.Value);
        Assert.Null(group.ServiceTagResolvedName);
    }
}

/// <summary>Corral's built-in tag list is exactly what Microsoft's file (changeNumber 360) says.</summary>
public sealed class ServiceTagCatalogTests
{
    [Fact]
    public void The_built_in_list_is_the_real_files_names_and_regions()
    {
        var catalog = ServiceTagCatalog.BuiltIn;
        Assert.Equal(RealServiceTags.ChangeNumber, catalog.ChangeNumber);
        using (var doc = JsonDocument.Parse(RealServiceTags.Text))
            Assert.Equal(RealServiceTags.ChangeNumber, doc.RootElement.GetProperty("changeNumber").GetRawText());
        Assert.Equal(RealServiceTags.Tags.Keys.Order(StringComparer.Ordinal), catalog.Names.Order(StringComparer.Ordinal));
        foreach (var (name, (region, _)) in RealServiceTags.Tags)
        {
            Assert.Equal(name, catalog.Spelling(name.ToUpperInvariant()));
            if (region.Length == 0) continue;
            var dot = name.LastIndexOf('.');
            // MCR and ACR stay global, as Microsoft's Azure Container Apps firewall guidance lists them.
            var expected = ServiceTagCatalog.AlwaysGlobal.Contains(name[..dot]) ? name[..dot] : name;
            Assert.Equal(expected, catalog.Resolve(name[..dot], name[(dot + 1)..].ToLowerInvariant()));
        }
        Assert.Equal("AzureActiveDirectory", catalog.Resolve("AzureActiveDirectory", "eastus"));
        Assert.Equal("AzureFrontDoor.FirstParty", catalog.Resolve("azurefrontdoor.firstparty", "eastus"));
        Assert.Null(catalog.Resolve("NoSuchTag", "eastus"));
    }
}

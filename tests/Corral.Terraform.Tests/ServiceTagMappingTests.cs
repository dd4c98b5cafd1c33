using System.IO.Compression;
using System.Text.RegularExpressions;
using Corral.Policy;
using Corral.Terraform.Mapping;
using Corral.Testing;

namespace Corral.Terraform.Tests;

/// <summary>
/// Service tags reach Aviatrix as Microsoft spells them and pinned to the policy's region only where Microsoft publishes
/// regional ranges: the same with Microsoft's real file (changeNumber 360, in the policy core's test data) and without
/// a file (Corral's built-in list, derived from that file).
/// </summary>
public sealed partial class ServiceTagMappingTests
{
    private static readonly string RealFile = Path.Combine(Repository.Root, "tests", "Corral.Policy.Tests", "data", "ServiceTags_Public_360.json.gz");

    [GeneratedRegex("""service_name = "([^"]+)"(?:\s+region\s+= "([^"]+)")?""")]
    private static partial Regex ServiceName();

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Tags_are_spelled_as_Microsoft_does_and_pinned_only_where_regional(bool withFile)
    {
        using var dir = new TempFolder("corral-tf-");
        if (withFile)
        {
            using var gz = new GZipStream(File.OpenRead(RealFile), CompressionMode.Decompress);
            using var target = File.Create(dir.File("ServiceTags_Public.json"));
            gz.CopyTo(target);
        }
        File.WriteAllText(dir.File("corral.yaml"), $$"""
            version: 1
            name: tags
            smartGroups:
              agents: { cidrs: [10.20.1.0/24] }
              aad: { serviceTag: azureactivedirectory }
              afd: { serviceTag: azurefrontdoor.firstparty }
              mcr: { serviceTag: MICROSOFTCONTAINERREGISTRY }
              acr: { serviceTag: AzureContainerRegistry }
            serviceTags: { {{(withFile ? "file: ServiceTags_Public.json, " : "")}}region: eastus }
            rules:
              - { name: platform, priority: 1, source: [agents], destination: [aad, afd, mcr, acr], ports: [443], action: permit }
            """);
        var result = PolicyChecker.CheckFile(dir.File("corral.yaml"));
        Assert.True(result.Succeeded, string.Join("\n", result.Diagnostics));
        var module = TerraformExporter.Export(result.Compiled!);
        var smart = module.Files.Single(f => f.Key == SmartGroupsFile.FileName).Value;
        var written = ServiceName().Matches(smart).Select(m => (m.Groups[1].Value, m.Groups[2].Success ? m.Groups[2].Value : null)).ToList();
        // MCR and ACR stay global although Microsoft publishes regional ranges: its Azure Container Apps firewall guidance
        // lists the global tags, since images are served from other regions' endpoints too.
        Assert.Equal([("AzureActiveDirectory", null), ("AzureFrontDoor.FirstParty", null), ("MicrosoftContainerRegistry", null), ("AzureContainerRegistry", null)],
            written);
        Assert.DoesNotContain(module.Warnings, w => w.Code == "service-tag-region");
        var readme = module.Files.Single(f => f.Key == ModuleReadme.FileName).Value;
        Assert.DoesNotContain("azureactivedirectory", readme + smart, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_tag_without_a_file_is_pinned_as_the_policy_says_and_reported()
    {
        using var dir = new TempFolder("corral-tf-");
        File.WriteAllText(dir.File("corral.yaml"), """
            version: 1
            name: tags
            smartGroups:
              new-tag: { serviceTag: SomeServiceNewerThanTheList }
            serviceTags: { region: eastus }
            rules:
              - { name: r, priority: 1, destination: [new-tag], ports: [443], action: permit }
            """);
        var result = PolicyChecker.CheckFile(dir.File("corral.yaml"));
        Assert.True(result.Succeeded, string.Join("\n", result.Diagnostics));
        var module = TerraformExporter.Export(result.Compiled!);
        Assert.Contains("service_name = \"SomeServiceNewerThanTheList\"\n        region       = \"eastus\"", module.Files.Single(f => f.Key == SmartGroupsFile.FileName).Value);
        Assert.Contains("SomeServiceNewerThanTheList", Assert.Single(module.Warnings, w => w.Code == "service-tag-region").Message);
    }
}

using Corral.Testing;
namespace Corral.Terraform.Tests;

/// <summary>
/// Every generated module against the Aviatrix provider's own schema at v8.2.0 and v9.0.10 (data/README.md says where
/// the schemas come from): what `terraform plan` would refuse as an unsupported argument, a missing required argument
/// or an invalid value must fail here first.
/// </summary>
public sealed class ProviderSchemaTests
{
    /// <summary>Each module against the release it pins (versions.tf: ~&gt; 8.2.0 or ~&gt; 9.0.0), which is the only one `terraform init` can pick.</summary>
    public static TheoryData<string, string> ModulesAndReleases
    {
        get
        {
            var data = new TheoryData<string, string>();
            foreach (var variant in GeneratedModules.Variants) data.Add(variant, GeneratedModules.ReleaseOf(variant));
            return data;
        }
    }

    [Fact]
    public void Both_release_lines_have_modules()
    {
        Assert.Contains(GeneratedModules.Variants, v => GeneratedModules.ReleaseOf(v) == "v8.2.0");
        Assert.Contains(GeneratedModules.Variants, v => GeneratedModules.ReleaseOf(v) == "v9.0.10");
    }

    [Fact]
    public void Both_provider_releases_are_checked()
    {
        var versions = ProviderSchemas.Aviatrix.Select(r => r.Version).ToList();
        Assert.Contains("v8.2.0", versions);
        Assert.Contains("v9.0.10", versions);
        Assert.Equal(Mapping.ProviderFacts.CheckedAviatrixReleases, versions);
    }

    [Theory, MemberData(nameof(ModulesAndReleases))]
    public void Generated_module_checks_clean_against_the_provider(string variant, string version)
    {
        using var dir = new TempFolder("corral-tf-");
        var parsed = HclParser.ParseFolder(GeneratedModules.Write(variant, dir));
        var problems = SchemaChecker.Check(parsed, ProviderSchemas.Release(version));
        Assert.True(problems.Count == 0, $"{variant} on aviatrix {version}:\n" + string.Join("\n", problems));
    }

    // The checker itself: each kind of mistake it exists to catch, caught.

    [Theory]
    [InlineData("v8.2.0")]
    [InlineData("v9.0.10")]
    public void Removed_spoke_gateway_arguments_are_unknown(string version)
    {
        var problems = CheckText(version, """
            resource "aviatrix_spoke_gateway" "g" {
              cloud_type                        = 8
              account_name                      = "a"
              gw_name                           = "g"
              vpc_id                            = "v"
              vpc_reg                           = "East US"
              gw_size                           = "Standard_B2ms"
              subnet                            = "10.0.0.0/26"
              manage_transit_gateway_attachment = false
              transit_gw                        = "t"
            }
            """);
        Assert.Equal(2, problems.Count);
        Assert.Contains(problems, p => p.Contains("unknown argument or block 'manage_transit_gateway_attachment'"));
        Assert.Contains(problems, p => p.Contains("unknown argument or block 'transit_gw'"));
    }

    [Fact]
    public void Enums_types_required_computed_and_max_items_are_checked()
    {
        var ports = string.Concat(Enumerable.Range(1, 65).Select(p => $"    port_ranges {{\n      lo = {p}\n    }}\n"));
        var text = $$"""
            resource "aviatrix_dcf_ruleset" "r" {
              name = "r"
              rules {
                name             = "x"
                action           = "ALLOW"
                protocol         = "tcp"
                src_smart_groups = ["a"]
                dst_smart_groups = ["b"]
                watch            = "yes"
                uuid             = "u"
            {{ports}}  }
            }
            resource "aviatrix_web_group" "w" {
              name = "w"
            }
            """;
        var v8 = CheckText("v8.2.0", text);
        Assert.Contains(v8, p => p.Contains("\"ALLOW\" is not one of DENY, PERMIT"));
        Assert.Contains(v8, p => p.Contains("\"tcp\" is not one of TCP, UDP, ICMP, ANY"));
        Assert.Contains(v8, p => p.Contains(".watch: String value \"yes\" where the provider takes TypeBool"));
        Assert.Contains(v8, p => p.Contains("'uuid' is computed"));
        Assert.Contains(v8, p => p.Contains("65 'port_ranges' blocks, the provider takes at most 64"));
        Assert.Contains(v8, p => p.Contains("aviatrix_web_group.w: required block 'selector' is missing"));
        Assert.DoesNotContain(v8, p => p.Contains("'priority'"));
        // v9.0.10 made a rule's priority required.
        Assert.Contains(CheckText("v9.0.10", text), p => p.Contains("required argument 'priority' is missing"));
    }

    [Fact]
    public void Unknown_resource_types_are_reported() =>
        Assert.Contains(CheckText("v9.0.10", "resource \"aviatrix_fqdn\" \"f\" {\n  fqdn_tag = \"t\"\n}\n"),
            p => p.Contains("resource type aviatrix_fqdn is not in aviatrix v9.0.10's schema"));

    private static List<string> CheckText(string version, string hcl)
    {
        using var dir = new TempFolder("corral-tf-");
        var folder = dir.File("m");
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "main.tf"), hcl);
        return SchemaChecker.Check(HclParser.ParseFolder(folder), ProviderSchemas.Release(version));
    }
}

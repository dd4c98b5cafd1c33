using Corral.Policy;
using Corral.Policy.Templates;
using Corral.Terraform.Mapping;
using Corral.Testing;

namespace Corral.Terraform.Tests;

/// <summary>Mapping details beyond the Foundry pack: watch mode, feeds, other rule shapes and their warnings.</summary>
public sealed class MappingTests
{
    private static TerraformModule Export(TempFolder dir, string yaml, TerraformOptions? options = null)
    {
        var path = dir.File("corral.yaml");
        File.WriteAllText(path, yaml);
        var result = PolicyChecker.CheckFile(path);
        Assert.True(result.Succeeded, string.Join("\n", result.Diagnostics));
        return TerraformExporter.Export(result.Compiled!, options);
    }

    private static string FileOf(TerraformModule module, string name) => module.Files.Single(f => f.Key == name).Value;

    [Fact]
    public void The_policys_interception_ca_is_copied_beside_the_module_as_the_default_certificate_and_the_key_stays_a_variable()
    {
        using var dir = new TempFolder("corral-tf-");
        var path = FoundryPack.Write(dir);
        var (certificate, key) = TestCertificates.CaPem();
        dir.Write("corral-ca/corral-ca.crt", certificate);
        dir.Write("corral-ca/corral-ca.key", key);
        File.WriteAllText(path, File.ReadAllText(path).Replace("  # interceptionCa:", "  interceptionCa:", StringComparison.Ordinal));
        var module = TerraformExporter.Export(FoundryPack.Compile(path));
        var folder = dir.File("infra");
        module.WriteTo(folder);

        var parsed = ParsedModule.Parse(folder);
        var none = new Dictionary<string, string>();
        Assert.Equal(VariablesFile.InterceptionCaFile, parsed.Value("mitm_ca_certificate_file", none));
        Assert.Null(parsed.Value("mitm_ca_private_key_file", none));
        // Applied from its own folder, Terraform's file() reads the copy: the certificate the policy declared, and no key.
        Assert.Equal(certificate, File.ReadAllText(Path.Combine(folder, parsed.Value("mitm_ca_certificate_file", none)!)));
        Assert.DoesNotContain(module.Files, f => f.Value.Contains("PRIVATE KEY", StringComparison.Ordinal));
        Assert.Contains("interception-ca.crt` here is its copy", FileOf(module, ModuleReadme.FileName));

        // Undeclared: no copy, and the certificate is a variable to set.
        using var plain = new TempFolder("corral-tf-");
        var undeclared = TerraformExporter.Export(FoundryPack.Compile(FoundryPack.Write(plain)));
        Assert.DoesNotContain(undeclared.Files, f => f.Key == VariablesFile.InterceptionCaFile);
        undeclared.WriteTo(plain.File("infra"));
        Assert.Null(ParsedModule.Parse(plain.File("infra")).Value("mitm_ca_certificate_file", none));
    }

    [Fact]
    public void Watch_mode_pack_writes_watch_true_on_every_rule()
    {
        using var dir = new TempFolder("corral-tf-");
        var policy = FoundryPack.Compile(FoundryPack.Write(dir, new AzureFoundryOptions { Watch = true }));
        var dcf = FileOf(TerraformExporter.Export(policy), DcfFile.FileName);
        Assert.Equal(6, System.Text.RegularExpressions.Regex.Matches(dcf, @"watch += true").Count);
        Assert.DoesNotMatch(@"(?m)^ +watch += false", dcf);
    }

    [Fact]
    public void Feed_addresses_become_CIDRs_and_feed_domains_are_reported()
    {
        using var dir = new TempFolder("corral-tf-");
        File.WriteAllText(dir.File("bad.txt"), "203.0.113.7\n198.51.100.0/24\nevil.example\n0.0.0.0 c2.example\n");
        var module = Export(dir, """
            version: 1
            name: feeds
            smartGroups:
              agents: { cidrs: [10.1.0.0/24] }
            threatGroups:
              bad: { feeds: [bad.txt] }
            rules:
              - { name: deny-bad, priority: 1, source: [agents], destination: [bad], action: deny }
            """);
        var smart = FileOf(module, SmartGroupsFile.FileName);
        Assert.Contains("external = \"threatiq\"", smart);
        Assert.Contains("cidr = \"203.0.113.7/32\"", smart);
        Assert.Contains("cidr = \"198.51.100.0/24\"", smart);
        var domains = Assert.Single(module.Warnings, w => w.Code == "threat-feed-domains");
        Assert.Contains("evil.example", domains.Message);
        Assert.Contains("c2.example", domains.Message);
        Assert.Contains("threat-feed-domains", FileOf(module, ModuleReadme.FileName));
    }

    [Fact]
    public void Rule_shapes_map_to_Aviatrix_values()
    {
        using var dir = new TempFolder("corral-tf-");
        var module = Export(dir, """
            version: 1
            name: shapes
            defaultAction: permit
            smartGroups:
              agents: { cidrs: [10.1.0.0/24] }
              dns: { cidrs: [10.9.0.4/32] }
            rules:
              - { name: dns, priority: 10, source: [agents], destination: [dns], protocol: udp, ports: [53], action: permit, requireTls: false, logging: false }
              - { name: tls-only, priority: 20, source: [agents], destination: [public-internet], protocol: tcp, ports: ["8000-8443"], action: permit, requireTls: true }
              - { name: ping, priority: 30, destination: [anywhere], protocol: icmp, action: deny, mode: watch }
            """);
        var dcf = FileOf(module, DcfFile.FileName);
        Assert.Matches("protocol += \"UDP\"", dcf);
        Assert.Matches("flow_app_requirement += \"TLS_REQUIRED\"", dcf);
        Assert.Contains("lo = 8000\n      hi = 8443", dcf);
        Assert.Matches("protocol += \"ICMP\"", dcf);
        Assert.Matches("src_smart_groups += \\[local.anywhere_uuid\\]", dcf);
        Assert.Matches("dst_smart_groups += \\[local.anywhere_uuid\\]", dcf);
        Assert.Matches("logging += false", dcf);
        Assert.Matches("default\" \\{\\n  count += var.manage_default_action \\? 1 : 0\\n  action += \"PERMIT\"", dcf);
        Assert.True(dcf.IndexOf("\"dns\"", StringComparison.Ordinal) < dcf.IndexOf("\"tls-only\"", StringComparison.Ordinal));
        Assert.True(dcf.IndexOf("\"tls-only\"", StringComparison.Ordinal) < dcf.IndexOf("\"ping\"", StringComparison.Ordinal));
        Assert.DoesNotContain(module.Warnings, w => w.Code == "internal-address-guard");
    }

    [Fact]
    public void Without_an_agent_smart_group_the_subnet_range_is_a_variable()
    {
        using var dir = new TempFolder("corral-tf-");
        var module = Export(dir, """
            version: 1
            name: no-agents
            rules:
              - { name: deny-all, priority: 1, destination: [public-internet], action: deny }
            """);
        Assert.Contains("[var.agent_subnet_cidr]", FileOf(module, NetworkFile.FileName));
        Assert.Contains("variable \"agent_subnet_cidr\"", FileOf(module, VariablesFile.FileName));
        Assert.Contains("The policy defines no web groups.", FileOf(module, WebGroupsFile.FileName));
    }

    [Fact]
    public void Names_that_clash_after_sanitizing_stay_distinct()
    {
        using var dir = new TempFolder("corral-tf-");
        var module = Export(dir, """
            version: 1
            name: clash
            smartGroups:
              a-b: { cidrs: [10.1.0.0/24] }
              a.b: { cidrs: [10.2.0.0/24] }
            rules:
              - { name: r, priority: 1, source: [a-b], destination: [a.b], action: deny }
            """);
        var smart = FileOf(module, SmartGroupsFile.FileName);
        Assert.Contains("resource \"aviatrix_smart_group\" \"a_b\"", smart);
        Assert.Contains("resource \"aviatrix_smart_group\" \"a_b_2\"", smart);
        Assert.Contains("dst_smart_groups = [aviatrix_smart_group.a_b_2.uuid]", FileOf(module, DcfFile.FileName));
    }
}

/// <summary>What Aviatrix cannot express is reported with the policy line it comes from.</summary>
public sealed class UnexpressibleTests
{
    [Fact]
    public void Web_group_rule_with_destinations_is_reported()
    {
        using var dir = new TempFolder("corral-tf-");
        var path = dir.File("corral.yaml");
        File.WriteAllText(path, """
            version: 1
            name: odd
            smartGroups:
              agents: { cidrs: [10.1.0.0/24] }
              partners: { cidrs: [198.51.100.0/24] }
            webGroups:
              partner-api: { domains: [api.partner.example] }
            rules:
              - { name: partner, priority: 1, source: [agents], destination: [partners], webGroups: [partner-api], action: permit, ports: [443] }
              - { name: ping, priority: 2, source: [agents], protocol: icmp, action: deny }
            """);
        var result = Corral.Policy.PolicyChecker.CheckFile(path);
        Assert.True(result.Succeeded, string.Join("\n", result.Diagnostics));
        var module = TerraformExporter.Export(result.Compiled!);
        var codes = module.Warnings.Select(w => w.Code).ToList();
        Assert.Contains("internal-address-guard", codes);
        Assert.Contains("web-group-destination", codes);
        Assert.Contains("no-catch-all-rule", codes); // defaultAction: deny is controller-wide; no rule of the module denies the rest
        Assert.Contains("gateway-only", codes);
        Assert.Contains("dns-gateway-only", codes);
        var guard = module.Warnings.First(w => w.Code == "internal-address-guard");
        Assert.StartsWith("corral.yaml:9:", guard.ToString().Replace(dir.Path + Path.DirectorySeparatorChar, ""));
        var dcf = module.Files.Single(f => f.Key == "dcf.tf").Value;
        Assert.Contains("dst_smart_groups = [aviatrix_smart_group.partners.uuid]", dcf);
        var readme = module.Files.Single(f => f.Key == "README.md").Value;
        Assert.All(module.Warnings, w => Assert.Contains($"`{w.Code}`", readme));
    }
}

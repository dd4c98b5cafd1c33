using Corral.Policy.Templates;
using Corral.Terraform.Mapping;
using Corral.Testing;

namespace Corral.Terraform.Tests;

/// <summary>
/// Every kind of module `corral terraform` writes, for the checks that must hold for all of them: the Foundry pack in
/// both gateway modes and both rule resources, the pack in watch mode, and a policy that uses every feature the
/// exporter maps (URL filters with decryption, TLS-required, port ranges, UDP and ICMP, IPv6, anywhere, threat feeds,
/// service tags with a region, a permit default).
/// </summary>
internal static class GeneratedModules
{
    public static readonly string[] Variants =
        ["standalone", "transit", "policy-list", "transit-policy-list", "watch", "every-feature", "every-feature-policy-list", "ipv6-agents",
         "standalone-8.2", "transit-8.2", "every-feature-8.2"];

    /// <summary>The provider release a variant's module is pinned to (the 9.0 line unless the variant names 8.2).</summary>
    public static string ReleaseOf(string variant) => variant.EndsWith("-8.2", StringComparison.Ordinal) ? "v8.2.0" : "v9.0.10";

    public static TheoryData<string> All
    {
        get
        {
            var data = new TheoryData<string>();
            foreach (var v in Variants) data.Add(v);
            return data;
        }
    }

    public const string EveryFeaturePolicy = """
        version: 1
        name: every-feature
        defaultAction: permit
        smartGroups:
          agents: { cidrs: [10.20.1.0/24] }
          agents-v6: { cidrs: ["fd00:20:1::/64"] }
          dns: { cidrs: [10.9.0.4/32, "2001:db8:53::/48"] }
          aad: { serviceTag: AzureActiveDirectory }
          mcr: { serviceTag: MicrosoftContainerRegistry }
        webGroups:
          platform: { domains: [login.microsoftonline.com, "*.azurecr.io"] }
          tools: { domains: [mcp.contoso.com], urls: ["api.github.com/repos/contoso/*"] }
        threatGroups:
          bad: { feeds: [feeds/bad.txt] }
        serviceTags: { region: eastus }
        rules:
          - { name: deny-bad, priority: 1, source: [agents, agents-v6], destination: [bad], action: deny }
          - { name: dns, priority: 2, source: [agents], destination: [dns], protocol: udp, ports: [53], action: permit, logging: false }
          - { name: platform, priority: 3, source: [agents], webGroups: [platform], ports: [443], action: permit }
          - { name: tools, priority: 4, source: [agents], webGroups: [tools], ports: [443, "8000-8443"], action: permit, decrypt: allowed }
          - { name: tls-only, priority: 5, source: [agents-v6], destination: [public-internet], protocol: tcp, ports: ["1024-65535"], requireTls: true, action: permit, mode: watch }
          - { name: svctags, priority: 6, source: [agents], destination: [aad, mcr], ports: [443], action: permit }
          - { name: ping, priority: 7, source: [anywhere], destination: [anywhere], protocol: icmp, action: deny }
          - { name: deny-rest, priority: 8, source: [agents], destination: [public-internet], action: deny }
        """;

    /// <summary>A policy whose source is not one IPv4 CIDR group, so the module has no agent smart group to match by subnet.</summary>
    public const string Ipv6AgentsPolicy = """
        version: 1
        name: ipv6-agents
        smartGroups:
          agents-v6: { cidrs: ["fd00:20:1::/64"] }
        rules:
          - { name: deny-out, priority: 1, source: [agents-v6], destination: [public-internet], action: deny }
        """;

    private static string WritePolicy(TempFolder dir, string yaml)
    {
        var path = dir.File("corral.yaml");
        File.WriteAllText(path, yaml);
        return path;
    }

    /// <summary>Writes the variant's policy into <paramref name="dir"/> and its module into dir/infra; returns the module folder.</summary>
    public static string Write(string variant, TempFolder dir)
    {
        var output = dir.File("infra");
        Export(variant, dir).WriteTo(output);
        return output;
    }

    public static TerraformModule Export(string variant, TempFolder dir)
    {
        var transit = new TerraformOptions { Gateway = GatewayMode.Transit, TransitGatewayName = "transit-eastus" };
        var policyList = new TerraformOptions { Ruleset = RulesetKind.PolicyList };
        var v82 = new TerraformOptions { Controller = ControllerRelease.V8_2 };
        return variant switch
        {
            "standalone" => TerraformExporter.Export(FoundryPack.Compile(FoundryPack.Write(dir))),
            "transit" => TerraformExporter.Export(FoundryPack.Compile(FoundryPack.Write(dir)), transit),
            "policy-list" => TerraformExporter.Export(FoundryPack.Compile(FoundryPack.Write(dir)), policyList),
            "transit-policy-list" => TerraformExporter.Export(FoundryPack.Compile(FoundryPack.Write(dir)),
                new TerraformOptions { Gateway = GatewayMode.Transit, Ruleset = RulesetKind.PolicyList }),
            "watch" => TerraformExporter.Export(FoundryPack.Compile(FoundryPack.Write(dir, new AzureFoundryOptions { Watch = true }))),
            "every-feature" => TerraformExporter.Export(FoundryPack.Compile(WriteEveryFeature(dir))),
            "every-feature-policy-list" => TerraformExporter.Export(FoundryPack.Compile(WriteEveryFeature(dir)), policyList),
            "standalone-8.2" => TerraformExporter.Export(FoundryPack.Compile(FoundryPack.Write(dir)), v82),
            "transit-8.2" => TerraformExporter.Export(FoundryPack.Compile(FoundryPack.Write(dir)), transit with { Controller = ControllerRelease.V8_2 }),
            "every-feature-8.2" => TerraformExporter.Export(FoundryPack.Compile(WriteEveryFeature(dir)), v82),
            "ipv6-agents" => TerraformExporter.Export(FoundryPack.Compile(WritePolicy(dir, Ipv6AgentsPolicy))),
            _ => throw new ArgumentOutOfRangeException(nameof(variant), variant, null),
        };
    }

    private static string WriteEveryFeature(TempFolder dir)
    {
        Directory.CreateDirectory(dir.File("feeds"));
        File.WriteAllText(dir.File("feeds/bad.txt"), "# test feed\n203.0.113.7\n198.51.100.0/24\n2001:db8:bad::/48\nevil.example\n");
        return WritePolicy(dir, EveryFeaturePolicy);
    }
}

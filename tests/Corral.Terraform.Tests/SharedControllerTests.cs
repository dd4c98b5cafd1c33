using Corral.Policy.Templates;
using Corral.Terraform.Mapping;
using Corral.Testing;

namespace Corral.Terraform.Tests;

/// <summary>
/// The module as a whole, as an engineer applying it on a controller that already serves other spokes would check it
/// (on the parsed HCL, since plan cannot run without providers): nothing controller-wide unless opted in, two modules
/// of two policies side by side, and an agent subnet whose routes lead only to the gateway or a blackhole in apply
/// order and in reverse.
/// </summary>
public sealed class SharedControllerTests
{
    /// <summary>Resource types of which a controller has one: owning one from a module changes every other spoke.</summary>
    private static readonly HashSet<string> ControllerWide =
    [
        "aviatrix_distributed_firewalling_config", "aviatrix_config_feature", "aviatrix_distributed_firewalling_default_action_rule",
        "aviatrix_distributed_firewalling_policy_list", "aviatrix_dcf_mitm_ca_selection", "aviatrix_distributed_firewalling_proxy_ca_config",
    ];

    /// <summary>The provider's two Terraform attachment points; each takes one attached object for the whole controller.</summary>
    private static readonly HashSet<string> TerraformAttachmentPoints = ["TERRAFORM_BEFORE_UI_MANAGED", "TERRAFORM_AFTER_UI_MANAGED"];

    private static readonly Dictionary<string, string> NoInputs = [];

    [Theory, MemberData(nameof(GeneratedModules.All), MemberType = typeof(GeneratedModules))]
    public void No_controller_wide_object_without_its_opt_in(string variant)
    {
        using var dir = new TempFolder("corral-tf-");
        var module = ParsedModule.Parse(GeneratedModules.Write(variant, dir));
        var singletons = module.Blocks.Values.Where(b => !b.IsData && (ControllerWide.Contains(b.Type) || AttachesAtTerraformRoot(module, b))).ToList();
        Assert.NotEmpty(singletons); // the module does carry them, for the one that owns the controller
        foreach (var block in singletons)
        {
            var count = ParsedModule.Text(block.Body, "count");
            Assert.True(count is not null && System.Text.RegularExpressions.Regex.IsMatch(count, @"^\$\{var\.[a-z0-9_]+ \? 1 : 0\}$"),
                $"{variant}: {block.Address} is controller-wide but not behind an opt-in variable (count = var.X ? 1 : 0): {count ?? "no count"}");
            Assert.Equal(0, module.Count(block, NoInputs));
        }
    }

    [Fact]
    public void Two_modules_from_two_policies_coexist_on_one_controller()
    {
        using var dir = new TempFolder("corral-tf-");
        var east = WriteModule(dir, "east", new AzureFoundryOptions { Region = "eastus", AgentSubnet = "10.20.1.0/24" }, new TerraformOptions());
        var west = WriteModule(dir, "west", new AzureFoundryOptions { Region = "westeurope", AgentSubnet = "10.40.1.0/24", SpokeCidrs = ["10.50.0.0/16"] },
            new TerraformOptions { Gateway = GatewayMode.Transit, TransitGatewayName = "transit-westeurope" });
        Dictionary<string, string> eastInputs = new() { ["instance_name"] = "foundry-eastus", ["vnet_name"] = "vnet-east", ["resource_group_name"] = "rg-east", ["agent_subnet_name"] = "snet-agents" };
        Dictionary<string, string> westInputs = new() { ["instance_name"] = "foundry-westeu", ["vnet_name"] = "vnet-west", ["resource_group_name"] = "rg-west", ["agent_subnet_name"] = "snet-agents" };

        // Terraform addresses, as one root configuration calling both modules holds them.
        var eastAddresses = east.Blocks.Keys.Select(a => "module.foundry_eastus." + a).ToHashSet();
        Assert.Empty(eastAddresses.Intersect(west.Blocks.Keys.Select(a => "module.foundry_westeu." + a)));

        // Object names: the controller's namespace for Aviatrix objects, and Azure's (name within its scope) for azurerm ones.
        var eastNames = ObjectNames(east, eastInputs);
        var westNames = ObjectNames(west, westInputs);
        var shared = eastNames.Keys.Intersect(westNames.Keys).Select(k => $"{k} ({eastNames[k]} and {westNames[k]})").ToList();
        Assert.True(shared.Count == 0, "objects both modules would make or own:\n" + string.Join("\n", shared));

        // Attachment: each ruleset attaches at an attachment point of its own; none at the controller's two Terraform roots.
        var eastPoints = AttachmentPoints(east, eastInputs);
        var westPoints = AttachmentPoints(west, westInputs);
        Assert.NotEmpty(eastPoints);
        Assert.Empty(eastPoints.Intersect(westPoints));
        Assert.Empty(eastPoints.Concat(westPoints).Intersect(TerraformAttachmentPoints));
    }

    [Theory, MemberData(nameof(GeneratedModules.All), MemberType = typeof(GeneratedModules))]
    public void Agent_subnet_routes_lead_only_to_the_gateway_or_a_blackhole(string variant)
    {
        using var dir = new TempFolder("corral-tf-");
        var module = ParsedModule.Parse(GeneratedModules.Write(variant, dir));
        var association = Assert.Single(module.OfType("azurerm_subnet_route_table_association"));
        Assert.Contains(module.DirectDependencies(association.Address), d => d.EndsWith("azurerm_subnet.agents", StringComparison.Ordinal));
        var table = Assert.Single(module.DirectDependencies(association.Address), d => d.StartsWith("azurerm_route_table.", StringComparison.Ordinal));
        var tableBody = module.Blocks[table].Body;
        Assert.False(tableBody.TryGetProperty("route", out _), $"{table} has inline routes, whose order against the association nothing fixes");
        Assert.True(tableBody.TryGetProperty("bgp_route_propagation_enabled", out var propagation) && propagation.ValueKind == System.Text.Json.JsonValueKind.False,
            $"{table} propagates gateway routes: a VPN or ExpressRoute default route would bypass the spoke gateway");

        var routes = module.OfType("azurerm_route").Where(r => module.DirectDependencies(r.Address).Contains(table)).ToList();
        var rules = module.Blocks.Values.Single(b => b.Type is "aviatrix_dcf_ruleset" or "aviatrix_distributed_firewalling_policy_list").Address;
        var gateway = Assert.Single(module.OfType("aviatrix_spoke_gateway")).Address;
        var blackholes = routes.Where(r => ParsedModule.Text(r.Body, "next_hop_type") == "None" && ParsedModule.Text(r.Body, "address_prefix") == "0.0.0.0/0").ToList();
        var blackhole = Assert.Single(blackholes);
        Assert.DoesNotContain(gateway, module.Dependencies(blackhole.Address));
        Assert.DoesNotContain(rules, module.Dependencies(blackhole.Address));
        // Apply: the subnet takes the table only once the blackhole is in it. Destroy (the reverse) removes the association first.
        Assert.Contains(blackhole.Address, module.Dependencies(association.Address));

        var viaGateway = routes.Except(blackholes).ToList();
        Assert.NotEmpty(viaGateway);
        foreach (var route in viaGateway)
        {
            Assert.Equal("VirtualAppliance", ParsedModule.Text(route.Body, "next_hop_type"));
            Assert.Matches(@"^\$\{aviatrix_spoke_gateway\.[a-z0-9_]+\.(ha_)?private_ip\}$", ParsedModule.Text(route.Body, "next_hop_in_ip_address") ?? "");
            Assert.NotEqual("0.0.0.0/0", ParsedModule.Text(route.Body, "address_prefix")); // more specific, so removing it falls back to the blackhole
            // Apply: after the blackhole is in use, the rules exist and the gateway is up. Destroy: removed before any of them.
            var before = module.Dependencies(route.Address);
            foreach (var needed in new[] { association.Address, rules, gateway })
                Assert.True(before.Contains(needed), $"{variant}: {route.Address} does not wait for {needed} (and would outlive it on destroy)");
        }
        // The gateway starts forwarding only with the rules in place, and is gone before they are.
        Assert.Contains(rules, module.Dependencies(gateway));
    }

    [Fact]
    public void A_pack_written_with_defaults_deploys_every_rule_in_watch_mode()
    {
        using var dir = new TempFolder("corral-tf-");
        var module = ParsedModule.Parse(WriteModuleFolder(dir, "pack", new AzureFoundryOptions(), new TerraformOptions()));
        var rules = Assert.Single(module.OfType("aviatrix_dcf_ruleset")).Body.GetProperty("rules");
        Assert.True(rules.GetArrayLength() >= 6);
        foreach (var rule in rules.EnumerateArray())
            Assert.True(rule.GetProperty("watch").GetBoolean(), $"rule {rule.GetProperty("name")} is enforced in a pack written with defaults");
    }

    private static ParsedModule WriteModule(TempFolder dir, string name, AzureFoundryOptions pack, TerraformOptions options) =>
        ParsedModule.Parse(WriteModuleFolder(dir, name, pack, options));

    private static string WriteModuleFolder(TempFolder dir, string name, AzureFoundryOptions pack, TerraformOptions options)
    {
        var policyDir = dir.File(name);
        Directory.CreateDirectory(policyDir);
        using var sub = new TempFolder("corral-tf-policy-");
        var policy = FoundryPack.Compile(FoundryPack.Write(sub, pack));
        var output = Path.Combine(policyDir, "infra");
        TerraformExporter.Export(policy, options).WriteTo(output);
        return output;
    }

    /// <summary>Whether a block attaches at one of the controller's two Terraform attachment points.</summary>
    private static bool AttachesAtTerraformRoot(ParsedModule module, ModuleBlock block) =>
        ParsedModule.Text(block.Body, "attach_to") is { } attach &&
        module.DirectDependencies(block.Address).Any(d => d.StartsWith("data.aviatrix_dcf_attachment_point.", StringComparison.Ordinal) &&
                                                          TerraformAttachmentPoints.Contains(ParsedModule.Text(module.Blocks[d].Body, "name") ?? "")) &&
        attach.Length > 0;

    /// <summary>
    /// Every object the module makes with the given inputs (count-0 blocks left out), keyed by its identity: the
    /// Aviatrix type and name (one namespace per controller), or the Azure type and name within its resource group,
    /// VNet or route table.
    /// </summary>
    private static Dictionary<string, string> ObjectNames(ParsedModule module, IReadOnlyDictionary<string, string> inputs)
    {
        var names = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var block in module.Blocks.Values.Where(b => !b.IsData && module.Count(b, inputs) > 0))
        {
            if (ControllerWide.Contains(block.Type))
            {
                names[block.Type] = block.Address; // one per controller, whatever its attributes
                continue;
            }
            var nameAttribute = block.Body.TryGetProperty("gw_name", out _) ? "gw_name" : "name";
            if (ParsedModule.Text(block.Body, nameAttribute) is not { } template) continue;
            var name = module.Evaluate(template, inputs);
            Assert.True(name is not null, $"{block.Address}.{nameAttribute} = {template} cannot be evaluated with the inputs given");
            var scope = block.Type.StartsWith("azurerm_", StringComparison.Ordinal)
                ? string.Join("/", new[] { "resource_group_name", "virtual_network_name", "route_table_name" }
                    .Select(a => ParsedModule.Text(block.Body, a) is { } t ? module.Evaluate(t, inputs) ?? "?" : ""))
                : "controller";
            names[$"{block.Type} {scope}/{name}"] = block.Address;
        }
        return names;
    }

    private static List<string> AttachmentPoints(ParsedModule module, IReadOnlyDictionary<string, string> inputs) =>
        module.Blocks.Values
            .Where(b => !b.IsData && ParsedModule.Text(b.Body, "attach_to") is not null && module.Count(b, inputs) > 0)
            .SelectMany(b => module.DirectDependencies(b.Address).Where(d => d.StartsWith("data.aviatrix_dcf_attachment_point.", StringComparison.Ordinal)))
            .Select(d => module.Evaluate(ParsedModule.Text(module.Blocks[d].Body, "name")!, inputs) ?? "?")
            .ToList();
}

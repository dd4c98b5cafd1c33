using System.Text.Json;
using Corral.Terraform.Mapping;
using Corral.Testing;

namespace Corral.Terraform.Tests;

/// <summary>
/// Every generated file parses with HashiCorp's HCL parser (ProviderSchemaTests checks it against the provider's
/// schema), and the parsed structure carries the reference's rules in order with their actions and decrypt policies.
/// </summary>
public sealed class HclParseTests
{
    private static readonly string[] ReferenceOrder = ["deny-threat-intel", "allow-aca-fqdn", "allow-aca-svctag", "allow-tool-calls", "default-deny-internet", "deny-east-west"];
    private static readonly string[] ReferenceActions = ["DENY", "PERMIT", "PERMIT", "PERMIT", "DENY", "DENY"];
    private static readonly string?[] ReferenceDecrypt = [null, "DECRYPT_NOT_ALLOWED", "DECRYPT_NOT_ALLOWED", "DECRYPT_ALLOWED", null, null];

    private static JsonElement ParseModule(TempFolder dir, TerraformOptions options)
    {
        var policy = FoundryPack.Compile(FoundryPack.Write(dir));
        var output = Path.Combine(dir.Path, "infra");
        TerraformExporter.Export(policy, options).WriteTo(output);
        return HclParser.ParseFolder(output);
    }

    public static TheoryData<string, string> Variants => new()
    {
        { "standalone", "dcf-ruleset" }, { "transit", "dcf-ruleset" }, { "standalone", "policy-list" }, { "transit", "policy-list" },
    };

    private static TerraformOptions Options(string gateway, string ruleset) => new()
    {
        Gateway = gateway == "transit" ? GatewayMode.Transit : GatewayMode.Standalone,
        Ruleset = ruleset == "policy-list" ? RulesetKind.PolicyList : RulesetKind.DcfRuleset,
    };

    [Theory, MemberData(nameof(Variants))]
    public void Every_file_parses(string gateway, string ruleset)
    {
        using var dir = new TempFolder("corral-tf-");
        var parsed = ParseModule(dir, Options(gateway, ruleset));
        Assert.Equal(["dcf.tf", "gateway.tf", "network.tf", "outputs.tf", "smartgroups.tf", "variables.tf", "versions.tf", "webgroups.tf"],
            parsed.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
    }

    [Theory, MemberData(nameof(Variants))]
    public void Rules_keep_the_reference_order_actions_and_decrypt_policies(string gateway, string ruleset)
    {
        using var dir = new TempFolder("corral-tf-");
        var dcf = ParseModule(dir, Options(gateway, ruleset)).GetProperty("dcf.tf").GetProperty("resource");
        var rules = ruleset == "policy-list"
            ? dcf.GetProperty("aviatrix_distributed_firewalling_policy_list").GetProperty("foundry_agents_eastus")[0].GetProperty("policies")
            : dcf.GetProperty("aviatrix_dcf_ruleset").GetProperty("foundry_agents_eastus")[0].GetProperty("rules");
        var list = rules.EnumerateArray().ToList();
        Assert.Equal(ReferenceOrder, list.Select(r => r.GetProperty("name").GetString()));
        Assert.Equal(ReferenceActions, list.Select(r => r.GetProperty("action").GetString()));
        Assert.Equal(ReferenceDecrypt, list.Select(r => r.TryGetProperty("decrypt_policy", out var d) ? d.GetString() : null));
        Assert.Equal([1, 2, 3, 4, 5, 6], list.Select(r => r.GetProperty("priority").GetInt32()));
        Assert.All(list, r => Assert.Contains(r.GetProperty("protocol").GetString(), new[] { "TCP", "UDP", "ICMP", "ANY" }));
        Assert.All(list, r => Assert.True(r.GetProperty("logging").GetBoolean()));
        Assert.All(list, r => Assert.True(r.GetProperty("watch").GetBoolean())); // the pack deploys watch first

        // Web-group rules target Public Internet over TCP, as Aviatrix requires.
        foreach (var rule in list.Where(r => r.TryGetProperty("web_groups", out _)))
        {
            Assert.Equal("TCP", rule.GetProperty("protocol").GetString());
            Assert.Equal(["${local.public_internet_uuid}"], rule.GetProperty("dst_smart_groups").EnumerateArray().Select(e => e.GetString()));
        }
        Assert.Equal(["${aviatrix_web_group.foundry_tool_calls.uuid}"], list[3].GetProperty("web_groups").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(443, list[1].GetProperty("port_ranges")[0].GetProperty("lo").GetInt32());
        Assert.Equal(["${aviatrix_smart_group.default_threatgroup.uuid}"], list[0].GetProperty("dst_smart_groups").EnumerateArray().Select(e => e.GetString()));

        var defaultRule = dcf.GetProperty("aviatrix_distributed_firewalling_default_action_rule").GetProperty("default")[0];
        Assert.Equal("DENY", defaultRule.GetProperty("action").GetString());
        if (ruleset == "dcf-ruleset")
        {
            var attach = ParseAttachment(dir);
            Assert.Equal("TERRAFORM_BEFORE_UI_MANAGED", attach);
        }
    }

    private static string? ParseAttachment(TempFolder dir) =>
        HclParser.ParseFolder(Path.Combine(dir.Path, "infra")).GetProperty("dcf.tf").GetProperty("data")
            .GetProperty("aviatrix_dcf_attachment_point").GetProperty("terraform_before_ui")[0].GetProperty("name").GetString();

    [Fact]
    public void Groups_map_one_expression_per_entry()
    {
        using var dir = new TempFolder("corral-tf-");
        var parsed = ParseModule(dir, new TerraformOptions());
        var smart = parsed.GetProperty("smartgroups.tf").GetProperty("resource").GetProperty("aviatrix_smart_group");
        // The parser's JSON sorts resources by name; their order in the file is in the goldens.
        Assert.Equal(["aca_svctag_aad", "aca_svctag_acr", "aca_svctag_afd", "aca_svctag_mcr", "default_threatgroup", "foundry_agents", "other_spoke_resources"],
            smart.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));

        var aad = Expressions(smart, "aca_svctag_aad").Single();
        Assert.Equal("azureips", aad.GetProperty("external").GetString());
        Assert.Equal("AzureActiveDirectory", aad.GetProperty("ext_args").GetProperty("service_name").GetString());
        // AzureActiveDirectory has no regional ranges (Microsoft's file, changeNumber 360): pinning it would match nothing.
        Assert.False(aad.GetProperty("ext_args").TryGetProperty("region", out _));
        // MCR stays global, as Microsoft's Azure Container Apps firewall guidance lists it.
        Assert.False(Expressions(smart, "aca_svctag_mcr").Single().GetProperty("ext_args").TryGetProperty("region", out _));
        Assert.Equal("10.30.0.0/16", Expressions(smart, "other_spoke_resources").Single().GetProperty("cidr").GetString());
        Assert.Equal("threatiq", Expressions(smart, "default_threatgroup").Single().GetProperty("external").GetString());

        var agentDynamic = smart.GetProperty("foundry_agents")[0].GetProperty("selector")[0].GetProperty("dynamic").GetProperty("match_expressions");
        Assert.Equal("${match_expressions.value}", agentDynamic[0].GetProperty("content")[0].GetProperty("cidr").GetString());
        Assert.Equal("subnet", agentDynamic[1].GetProperty("content")[0].GetProperty("type").GetString());

        var web = parsed.GetProperty("webgroups.tf").GetProperty("resource").GetProperty("aviatrix_web_group");
        var aca = Expressions(web, "aca_requirements_fqdns").Select(e => e.GetProperty("snifilter").GetString()!).ToList();
        Assert.Equal(Corral.Policy.Templates.AzureFoundryTemplate.PlatformFqdns, aca);
        var tools = Expressions(web, "foundry_tool_calls");
        Assert.Equal(["mcp.contoso.com", "api.github.com"], tools.Where(e => e.TryGetProperty("snifilter", out _)).Select(e => e.GetProperty("snifilter").GetString()));
        Assert.Equal(["api.github.com/repos/contoso/*"], tools.Where(e => e.TryGetProperty("urlfilter", out _)).Select(e => e.GetProperty("urlfilter").GetString()));
        Assert.All(tools, e => Assert.Single(e.EnumerateObject()));
    }

    private static List<JsonElement> Expressions(JsonElement byName, string name) =>
        byName.GetProperty(name)[0].GetProperty("selector")[0].GetProperty("match_expressions").EnumerateArray().ToList();

    [Theory]
    [InlineData("standalone")]
    [InlineData("transit")]
    public void Network_and_gateway_follow_the_insertion_pattern(string gateway)
    {
        using var dir = new TempFolder("corral-tf-");
        var parsed = ParseModule(dir, Options(gateway, "dcf-ruleset"));
        var network = parsed.GetProperty("network.tf").GetProperty("resource");
        // The existing BYOVNet subnet by default; creating it is the option.
        var existing = parsed.GetProperty("network.tf").GetProperty("data").GetProperty("azurerm_subnet").GetProperty("agents")[0];
        Assert.Equal("${var.create_agent_subnet ? 0 : 1}", existing.GetProperty("count").GetString());
        var agents = network.GetProperty("azurerm_subnet").GetProperty("agents")[0];
        Assert.Equal("${var.create_agent_subnet ? 1 : 0}", agents.GetProperty("count").GetString());
        Assert.Equal(["10.20.1.0/24"], agents.GetProperty("address_prefixes").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal("Microsoft.App/environments", agents.GetProperty("delegation")[0].GetProperty("service_delegation")[0].GetProperty("name").GetString());
        var routes = network.GetProperty("azurerm_route");
        Assert.Equal("None", routes.GetProperty("agents_blackhole")[0].GetProperty("next_hop_type").GetString());
        foreach (var half in new[] { "agents_low_half_via_gateway", "agents_high_half_via_gateway" })
            Assert.Equal("${aviatrix_spoke_gateway.foundry.private_ip}", routes.GetProperty(half)[0].GetProperty("next_hop_in_ip_address").GetString());

        var resources = parsed.GetProperty("gateway.tf").GetProperty("resource");
        var spoke = resources.GetProperty("aviatrix_spoke_gateway").GetProperty("foundry")[0];
        Assert.Equal(8, spoke.GetProperty("cloud_type").GetInt32());
        Assert.True(spoke.GetProperty("single_ip_snat").GetBoolean());
        Assert.True(spoke.TryGetProperty("ha_subnet", out _));
        Assert.True(spoke.TryGetProperty("ha_zone", out _));
        // Removed from the provider in 3.0.0; attachment is aviatrix_spoke_transit_attachment.
        Assert.False(spoke.TryGetProperty("manage_transit_gateway_attachment", out _));
        Assert.False(spoke.TryGetProperty("transit_gw", out _));
        Assert.Equal(gateway == "transit", resources.TryGetProperty("aviatrix_spoke_transit_attachment", out _));

        var variables = parsed.GetProperty("variables.tf").GetProperty("variable");
        Assert.Equal("Standard_B2ms", variables.GetProperty("gateway_size")[0].GetProperty("default").GetString());
        Assert.Equal(gateway == "transit", variables.TryGetProperty("transit_gateway_name", out _));
    }

    [Fact]
    public void Every_group_reference_in_the_rules_is_defined()
    {
        using var dir = new TempFolder("corral-tf-");
        var parsed = ParseModule(dir, new TerraformOptions());
        var defined = new HashSet<string>(StringComparer.Ordinal);
        foreach (var type in new[] { ("smartgroups.tf", "aviatrix_smart_group"), ("webgroups.tf", "aviatrix_web_group") })
            foreach (var p in parsed.GetProperty(type.Item1).GetProperty("resource").GetProperty(type.Item2).EnumerateObject())
                defined.Add($"${{{type.Item2}.{p.Name}.uuid}}");
        defined.Add("${local.anywhere_uuid}");
        defined.Add("${local.public_internet_uuid}");
        var rules = parsed.GetProperty("dcf.tf").GetProperty("resource").GetProperty("aviatrix_dcf_ruleset").EnumerateObject().Single().Value[0].GetProperty("rules");
        foreach (var rule in rules.EnumerateArray())
            foreach (var field in new[] { "src_smart_groups", "dst_smart_groups", "web_groups" })
                if (rule.TryGetProperty(field, out var refs))
                    Assert.All(refs.EnumerateArray(), r => Assert.Contains(r.GetString()!, defined));
    }
}

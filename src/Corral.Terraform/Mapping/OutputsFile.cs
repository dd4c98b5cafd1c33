using Corral.Terraform.Hcl;

namespace Corral.Terraform.Mapping;

/// <summary>outputs.tf: the gateway, the subnets and the UUIDs of the groups and rules, for the agent's own pipeline.</summary>
public static class OutputsFile
{
    public const string FileName = "outputs.tf";

    public static string Write(ModuleContext context)
    {
        var file = new HclBody();
        file.Comment($"Outputs of the module for policy {context.Document.Name} ({context.PolicyFileName}), written by `corral terraform`.");
        Output(file, "agent_subnet_id", "The delegated hosted-agent subnet (BYOVNet).", "local.agent_subnet_id");
        Output(file, "spoke_gateway_name", "The Aviatrix spoke gateway.", "aviatrix_spoke_gateway.foundry.gw_name");
        Output(file, "spoke_gateway_private_ip", "The next hop of the agent subnet's default route.", "aviatrix_spoke_gateway.foundry.private_ip");
        Output(file, "ha_spoke_gateway_private_ip", "The HA gateway's private address.", "aviatrix_spoke_gateway.foundry.ha_private_ip");
        Output(file, "egress_public_ips",
            "The gateways' public addresses: egress to the internet leaves from these (single_ip_snat); give them to tool owners for their allowlists.",
            "compact([aviatrix_spoke_gateway.foundry.public_ip, aviatrix_spoke_gateway.foundry.ha_public_ip])");
        Output(file, "agent_route_table_id", "The agent subnet's route table (blackhole default, halves to the gateway).", "azurerm_route_table.agents.id");
        Output(file, "smart_group_uuids", "Smart group UUIDs by policy name.", Map(
            context.Document.SmartGroups.Select(g => g.Name).Concat(context.Document.ThreatGroups.Select(t => t.Name)),
            context.GroupUuid));
        if (context.Document.WebGroups.Count > 0)
            Output(file, "web_group_uuids", "Web group UUIDs by policy name.", Map(context.Document.WebGroups.Select(w => w.Name), context.WebGroupUuid));
        Output(file, "dcf_rules_id", "The resource that holds the DCF rules.", context.Options.Ruleset == RulesetKind.DcfRuleset
            ? $"{context.RulesAddress}.id"
            : $"one({context.RulesAddress}[*].id)");
        if (context.Options.Ruleset == RulesetKind.DcfRuleset)
            Output(file, "dcf_attachment_point", "The attachment point the rules attach to (declare it in the root policy group).", "local.dcf_attachment_point");
        return HclWriter.Write(file);
    }

    private static HclExpression Map(IEnumerable<string> names, Func<string, string> uuid) =>
        new HclObject(names.Select(n => new KeyValuePair<string, HclExpression>(Key(n), HclExpression.Raw(uuid(n)))).ToList());

    /// <summary>Object keys that are not identifiers (names with dashes or dots) are quoted.</summary>
    private static string Key(string name) =>
        name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_') && !char.IsAsciiDigit(name[0]) ? name : new HclString(name).ToString();

    private static void Output(HclBody file, string name, string description, string expression) =>
        Output(file, name, description, HclExpression.Raw(expression));

    private static void Output(HclBody file, string name, string description, HclExpression value) =>
        file.TopBlock("output", [name], b => b.Attribute("description", description).Attribute("value", value));
}

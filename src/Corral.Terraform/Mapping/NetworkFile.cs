using Corral.Terraform.Hcl;

namespace Corral.Terraform.Mapping;

/// <summary>
/// network.tf: in the existing Foundry spoke VNet, the hosted-agent subnet delegated to Microsoft.App/environments,
/// the Aviatrix gateway subnet, and the agent subnet's route table sending 0.0.0.0/0 to the spoke gateway.
/// </summary>
public static class NetworkFile
{
    public const string FileName = "network.tf";
    public const string Delegation = "Microsoft.App/environments";

    public static string Write(ModuleContext context)
    {
        var file = new HclBody();
        file.Comment($"Azure network of policy {context.Document.Name} ({context.PolicyFileName}), written by `corral terraform`.");
        file.Comment("The Foundry spoke VNet already exists (as does its private-endpoint subnet); this module adds two subnets and a route.");

        file.TopBlock("data", ["azurerm_virtual_network", "foundry"], b => b
            .Expression("name", "var.vnet_name")
            .Expression("resource_group_name", "var.resource_group_name"));

        var agent = context.AgentGroup;
        var agentComment = agent is null
            ? "The hosted-agent subnet (BYOVNet): delegated to Microsoft.App/environments, in the Foundry account's region.\n" +
              "No single source smart group names it in the policy, so its address range is var.agent_subnet_cidr."
            : $"The hosted-agent subnet (BYOVNet), smart group {agent.Name} ({context.Cite(agent.Location)}): delegated to\n" +
              "Microsoft.App/environments, in the Foundry account's region (/27 at least, /24 recommended).";
        file.TopBlock("resource", ["azurerm_subnet", "agents"], b =>
        {
            b.Expression("name", "var.agent_subnet_name");
            b.Expression("resource_group_name", "var.resource_group_name");
            b.Expression("virtual_network_name", "data.azurerm_virtual_network.foundry.name");
            b.Attribute("address_prefixes", agent is null
                ? HclExpression.Raw("[var.agent_subnet_cidr]")
                : HclExpression.Strings(agent.Cidrs.Select(c => c.Value.ToString())));
            b.Blank();
            b.Block("delegation", d => d
                .Attribute("name", "foundry-hosted-agents")
                .Block("service_delegation", s => s
                    .Attribute("name", Delegation)
                    // The action Azure sets for this delegation; declaring it avoids a perpetual diff.
                    .Attribute("actions", HclExpression.Strings(["Microsoft.Network/virtualNetworks/subnets/join/action"]))));
        }, agentComment);

        file.TopBlock("resource", ["azurerm_subnet", "aviatrix_gateway"], b => b
            .Expression("name", "var.gateway_subnet_name")
            .Expression("resource_group_name", "var.resource_group_name")
            .Expression("virtual_network_name", "data.azurerm_virtual_network.foundry.name")
            .Expression("address_prefixes", "[var.gateway_subnet_cidr]"),
            "The Aviatrix spoke gateway subnet (both gateways of the HA pair, in different zones).");

        file.TopBlock("resource", ["azurerm_route_table", "agents"], b => b
            .Expression("name", "\"${var.agent_subnet_name}-egress\"")
            .Expression("location", "data.azurerm_virtual_network.foundry.location")
            .Expression("resource_group_name", "var.resource_group_name")
            .Blank()
            .Block("route", r => r
                .Attribute("name", "default-via-aviatrix-spoke")
                .Attribute("address_prefix", "0.0.0.0/0")
                .Attribute("next_hop_type", "VirtualAppliance")
                .Expression("next_hop_in_ip_address", "aviatrix_spoke_gateway.foundry.private_ip"))
            .Blank()
            .Block("lifecycle", l => l
                .Comment("The Aviatrix controller reprograms this route (HA failover, transit routes): ignore its drift.")
                .Expression("ignore_changes", "[route]")),
            "All egress of the agent subnet goes to the spoke gateway; inference traffic to private endpoints stays in the VNet.");

        file.TopBlock("resource", ["azurerm_subnet_route_table_association", "agents"], b => b
            .Expression("subnet_id", "azurerm_subnet.agents.id")
            .Expression("route_table_id", "azurerm_route_table.agents.id"));
        return HclWriter.Write(file);
    }
}

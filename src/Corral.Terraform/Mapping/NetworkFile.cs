using Corral.Terraform.Hcl;

namespace Corral.Terraform.Mapping;

/// <summary>
/// network.tf: in the existing Foundry spoke VNet, the hosted-agent subnet (the existing one by default, delegated to
/// Microsoft.App/environments), the Aviatrix gateway subnet, and the agent subnet's routing, which fails closed.
/// </summary>
/// <remarks>
/// Order (apply; destroy is the reverse): the route table, its blackhole route 0.0.0.0/0 → None, the association with
/// the agent subnet (from here on nothing leaves the subnet), the rules, the gateway, and last the two halves of the
/// address space (0.0.0.0/1, 128.0.0.0/1) → the gateway, more specific than the blackhole. Destroy removes the two
/// halves first, so egress falls back to the blackhole while the gateway and its rules still exist.
/// </remarks>
public static class NetworkFile
{
    public const string FileName = "network.tf";
    public const string Delegation = "Microsoft.App/environments";

    /// <summary>The route resources that send the agent subnet's egress to the gateway, by name and prefix.</summary>
    public static readonly IReadOnlyList<(string Resource, string Prefix)> GatewayRoutes =
        [("agents_low_half_via_gateway", "0.0.0.0/1"), ("agents_high_half_via_gateway", "128.0.0.0/1")];

    public static string Write(ModuleContext context)
    {
        var file = new HclBody();
        file.Comment($"Azure network of policy {context.Document.Name} ({context.PolicyFileName}), written by `corral terraform`.");
        file.Comment("The Foundry spoke VNet and its agent subnet already exist (BYOVNet); this module adds the gateway subnet and the agent");
        file.Comment("subnet's route table. Routing fails closed: see the order in README.md.");

        file.TopBlock("data", ["azurerm_virtual_network", "foundry"], b => b
            .Expression("name", "var.vnet_name")
            .Expression("resource_group_name", "var.resource_group_name"));

        var agent = context.AgentGroup;
        var policyCidrs = agent is null ? null : HclExpression.Strings(agent.Cidrs.Select(c => c.Value.ToString()));
        file.TopBlock("data", ["azurerm_subnet", "agents"], b =>
        {
            b.Expression("count", "var.create_agent_subnet ? 0 : 1");
            b.Expression("name", "var.agent_subnet_name");
            b.Expression("virtual_network_name", "data.azurerm_virtual_network.foundry.name");
            b.Expression("resource_group_name", "var.resource_group_name");
            b.Blank();
            b.Block("lifecycle", l =>
            {
                if (policyCidrs is not null)
                    l.Block("postcondition", p => p
                        .Expression("condition", $"length(setsubtract({policyCidrs}, self.address_prefixes)) == 0")
                        .Attribute("error_message", $"The agent subnet's address range is not the policy's {agent!.Name} smart group ({context.Cite(agent.Location)}): fix the policy or agent_subnet_name."));
                l.Block("postcondition", p => p
                    .Expression("condition", "self.route_table_id == \"\" || endswith(lower(self.route_table_id), lower(\"/routeTables/${var.instance_name}-agents-egress\"))")
                    .Attribute("error_message", "The agent subnet already has a route table that this module does not own: detach it first (this module replaces it and would not restore it)."));
            });
        }, "The hosted-agent subnet the Foundry account already uses (BYOVNet), delegated to Microsoft.App/environments.");

        var agentComment = agent is null
            ? "Only with create_agent_subnet: the hosted-agent subnet, delegated to Microsoft.App/environments, in the Foundry account's region.\n" +
              "No single source smart group names it in the policy, so its address range is var.agent_subnet_cidr."
            : $"Only with create_agent_subnet: the hosted-agent subnet, smart group {agent.Name} ({context.Cite(agent.Location)}): delegated to\n" +
              "Microsoft.App/environments, in the Foundry account's region (/27 at least, /24 recommended).";
        file.TopBlock("resource", ["azurerm_subnet", "agents"], b =>
        {
            b.Expression("count", "var.create_agent_subnet ? 1 : 0");
            b.Expression("name", "var.agent_subnet_name");
            b.Expression("resource_group_name", "var.resource_group_name");
            b.Expression("virtual_network_name", "data.azurerm_virtual_network.foundry.name");
            b.Attribute("address_prefixes", policyCidrs ?? HclExpression.Raw("[var.agent_subnet_cidr]"));
            b.Blank();
            b.Block("delegation", d => d
                .Attribute("name", "foundry-hosted-agents")
                .Block("service_delegation", s => s
                    .Attribute("name", Delegation)
                    // The action Azure sets for this delegation; declaring it avoids a perpetual diff.
                    .Attribute("actions", HclExpression.Strings(["Microsoft.Network/virtualNetworks/subnets/join/action"]))));
            if (agent is null)
            {
                b.Blank();
                b.Block("lifecycle", l => l.Block("precondition", p => p
                    .Expression("condition", "var.agent_subnet_cidr != null")
                    .Attribute("error_message", "The create_agent_subnet option needs agent_subnet_cidr.")));
            }
        }, agentComment);

        file.TopBlock("locals", [], b => b
            .Expression("agent_subnet_id", "one(concat(azurerm_subnet.agents[*].id, data.azurerm_subnet.agents[*].id))")
            .Expression("agent_subnet_name", "one(concat(azurerm_subnet.agents[*].name, data.azurerm_subnet.agents[*].name))"));

        file.TopBlock("resource", ["azurerm_subnet", "aviatrix_gateway"], b => b
            .Expression("name", "var.gateway_subnet_name")
            .Expression("resource_group_name", "var.resource_group_name")
            .Expression("virtual_network_name", "data.azurerm_virtual_network.foundry.name")
            .Expression("address_prefixes", "[var.gateway_subnet_cidr]"),
            "The Aviatrix spoke gateway subnet (both gateways of the HA pair, in different zones).");

        file.TopBlock("resource", ["azurerm_route_table", "agents"], b => b
            .Attribute("name", ModuleContext.ObjectName("agents-egress"))
            .Expression("location", "data.azurerm_virtual_network.foundry.location")
            .Expression("resource_group_name", "var.resource_group_name")
            .Comment("A default route learned from a VPN or ExpressRoute gateway would bypass the spoke gateway.")
            .Attribute("bgp_route_propagation_enabled", false),
            "The agent subnet's routes, each its own resource so that their order is explicit (no inline routes).");

        file.TopBlock("resource", ["azurerm_route", "agents_blackhole"], b => b
            .Attribute("name", "default-blackhole")
            .Expression("resource_group_name", "var.resource_group_name")
            .Expression("route_table_name", "azurerm_route_table.agents.name")
            .Attribute("address_prefix", "0.0.0.0/0")
            .Attribute("next_hop_type", "None"),
            "Fail closed: the default route drops everything. It exists before the subnet uses the table and outlives the routes to the gateway.");

        file.TopBlock("resource", ["azurerm_subnet_route_table_association", "agents"], b => b
            .Expression("subnet_id", "local.agent_subnet_id")
            .Expression("route_table_id", "azurerm_route_table.agents.id")
            .Blank()
            .Expression("depends_on", "[azurerm_route.agents_blackhole]"),
            "The subnet takes the table only once the blackhole is in it; destroy removes the association before the blackhole.");

        foreach (var (resource, prefix) in GatewayRoutes)
            file.TopBlock("resource", ["azurerm_route", resource], b => b
                .Attribute("name", "default-" + prefix.Split('.')[0] + "-via-aviatrix")
                .Expression("resource_group_name", "var.resource_group_name")
                .Expression("route_table_name", "azurerm_route_table.agents.name")
                .Attribute("address_prefix", prefix)
                .Attribute("next_hop_type", "VirtualAppliance")
                .Expression("next_hop_in_ip_address", "aviatrix_spoke_gateway.foundry.private_ip")
                .Blank()
                .Comment("Only once the blackhole is in place and the rules exist; destroy removes this route first.")
                .Expression("depends_on", $"[azurerm_subnet_route_table_association.agents, {context.RulesAddress}]"),
                prefix == GatewayRoutes[0].Prefix
                    ? "Egress to the spoke gateway: two halves of the address space, more specific than the blackhole, so removing them falls back to it."
                    : null);
        return HclWriter.Write(file);
    }
}

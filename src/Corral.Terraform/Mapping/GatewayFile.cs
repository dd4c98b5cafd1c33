using Corral.Terraform.Hcl;

namespace Corral.Terraform.Mapping;

/// <summary>
/// gateway.tf: the Aviatrix spoke gateway HA pair in the Foundry VNet (Azure, SNAT for egress) and, in transit mode,
/// its attachment to an existing transit gateway. The attachment is its own resource (aviatrix_spoke_transit_attachment):
/// the spoke gateway's manage_transit_gateway_attachment and transit_gw were removed in provider 3.0.0.
/// </summary>
public static class GatewayFile
{
    public const string FileName = "gateway.tf";
    public const int AzureCloudType = 8;

    public static string Write(ModuleContext context)
    {
        var file = new HclBody();
        file.Comment($"Aviatrix spoke gateway for policy {context.Document.Name} ({context.PolicyFileName}), written by `corral terraform`.");
        file.Comment(context.Options.Gateway == GatewayMode.Transit
            ? "Mode: transit. The spoke attaches to an existing Aviatrix transit, which also carries East-West traffic."
            : "Mode: standalone. The spoke egresses to the internet itself; no transit is needed.");

        file.TopBlock("resource", ["aviatrix_spoke_gateway", "foundry"], b => b
            .Attribute("cloud_type", AzureCloudType)
            .Expression("account_name", "var.aviatrix_account_name")
            .Attribute("gw_name", ModuleContext.ObjectName("spoke"))
            .Expression("vpc_id", "\"${data.azurerm_virtual_network.foundry.name}:${var.resource_group_name}:${data.azurerm_virtual_network.foundry.guid}\"")
            .Expression("vpc_reg", "var.aviatrix_region")
            .Expression("gw_size", "var.gateway_size")
            .Expression("subnet", "azurerm_subnet.aviatrix_gateway.address_prefixes[0]")
            .Expression("zone", "var.gateway_zone")
            .Blank()
            .Comment("The HA pair: a second gateway in another availability zone.")
            .Expression("ha_subnet", "azurerm_subnet.aviatrix_gateway.address_prefixes[0]")
            .Expression("ha_zone", "var.ha_gateway_zone")
            .Expression("ha_gw_size", "var.gateway_size")
            .Blank()
            .Comment("Egress to Public Internet leaves with the gateway's address (DCF egress rules need SNAT).")
            .Attribute("single_ip_snat", true)
            .Blank()
            .Comment("The rules exist before the gateway carries a flow, and outlive it on destroy.")
            .Expression("depends_on", $"[{context.RulesAddress}]"),
            "One spoke gateway HA pair per Foundry VNet, in the Foundry account's region (Standard_B2ms or larger).");

        if (context.Options.Gateway == GatewayMode.Transit)
            file.TopBlock("resource", ["aviatrix_spoke_transit_attachment", "foundry"], b => b
                .Expression("spoke_gw_name", "aviatrix_spoke_gateway.foundry.gw_name")
                .Expression("transit_gw_name", "var.transit_gateway_name"),
                "Attach to the existing transit; the HA gateway's attachment follows automatically.");
        return HclWriter.Write(file);
    }
}

# Aviatrix spoke gateway for policy foundry-agents-eastus (corral.yaml), written by `corral terraform`.
# Mode: transit. The spoke attaches to an existing Aviatrix transit, which also carries East-West traffic.

# One spoke gateway HA pair per Foundry VNet, in the Foundry account's region (Standard_B2ms or larger).
resource "aviatrix_spoke_gateway" "foundry" {
  cloud_type   = 8
  account_name = var.aviatrix_account_name
  gw_name      = "${var.instance_name}-spoke"
  vpc_id       = "${data.azurerm_virtual_network.foundry.name}:${var.resource_group_name}:${data.azurerm_virtual_network.foundry.guid}"
  vpc_reg      = var.aviatrix_region
  gw_size      = var.gateway_size
  subnet       = azurerm_subnet.aviatrix_gateway.address_prefixes[0]
  zone         = var.gateway_zone

  # The HA pair: a second gateway in another availability zone.
  ha_subnet  = azurerm_subnet.aviatrix_gateway.address_prefixes[0]
  ha_zone    = var.ha_gateway_zone
  ha_gw_size = var.gateway_size

  # Egress to Public Internet leaves with the gateway's address (DCF egress rules need SNAT).
  single_ip_snat = true

  # The rules exist before the gateway carries a flow, and outlive it on destroy.
  depends_on = [aviatrix_dcf_ruleset.foundry_agents_eastus]
}

# Attach to the existing transit; the HA gateway's attachment follows automatically.
resource "aviatrix_spoke_transit_attachment" "foundry" {
  spoke_gw_name   = aviatrix_spoke_gateway.foundry.gw_name
  transit_gw_name = var.transit_gateway_name
}

# Azure network of policy foundry-agents-eastus (corral.yaml), written by `corral terraform`.
# The Foundry spoke VNet already exists (as does its private-endpoint subnet); this module adds two subnets and a route.

data "azurerm_virtual_network" "foundry" {
  name                = var.vnet_name
  resource_group_name = var.resource_group_name
}

# The hosted-agent subnet (BYOVNet), smart group foundry-agents (corral.yaml:11): delegated to
# Microsoft.App/environments, in the Foundry account's region (/27 at least, /24 recommended).
resource "azurerm_subnet" "agents" {
  name                 = var.agent_subnet_name
  resource_group_name  = var.resource_group_name
  virtual_network_name = data.azurerm_virtual_network.foundry.name
  address_prefixes     = ["10.20.1.0/24"]

  delegation {
    name = "foundry-hosted-agents"
    service_delegation {
      name    = "Microsoft.App/environments"
      actions = ["Microsoft.Network/virtualNetworks/subnets/join/action"]
    }
  }
}

# The Aviatrix spoke gateway subnet (both gateways of the HA pair, in different zones).
resource "azurerm_subnet" "aviatrix_gateway" {
  name                 = var.gateway_subnet_name
  resource_group_name  = var.resource_group_name
  virtual_network_name = data.azurerm_virtual_network.foundry.name
  address_prefixes     = [var.gateway_subnet_cidr]
}

# All egress of the agent subnet goes to the spoke gateway; inference traffic to private endpoints stays in the VNet.
resource "azurerm_route_table" "agents" {
  name                = "${var.agent_subnet_name}-egress"
  location            = data.azurerm_virtual_network.foundry.location
  resource_group_name = var.resource_group_name

  route {
    name                   = "default-via-aviatrix-spoke"
    address_prefix         = "0.0.0.0/0"
    next_hop_type          = "VirtualAppliance"
    next_hop_in_ip_address = aviatrix_spoke_gateway.foundry.private_ip
  }

  lifecycle {
    # The Aviatrix controller reprograms this route (HA failover, transit routes): ignore its drift.
    ignore_changes = [route]
  }
}

resource "azurerm_subnet_route_table_association" "agents" {
  subnet_id      = azurerm_subnet.agents.id
  route_table_id = azurerm_route_table.agents.id
}

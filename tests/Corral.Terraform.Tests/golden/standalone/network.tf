# Azure network of policy foundry-agents-eastus (corral.yaml), written by `corral terraform`.
# The Foundry spoke VNet and its agent subnet already exist (BYOVNet); this module adds the gateway subnet and the agent
# subnet's route table. Routing fails closed: see the order in README.md.

data "azurerm_virtual_network" "foundry" {
  name                = var.vnet_name
  resource_group_name = var.resource_group_name
}

# The hosted-agent subnet the Foundry account already uses (BYOVNet), delegated to Microsoft.App/environments.
data "azurerm_subnet" "agents" {
  count                = var.create_agent_subnet ? 0 : 1
  name                 = var.agent_subnet_name
  virtual_network_name = data.azurerm_virtual_network.foundry.name
  resource_group_name  = var.resource_group_name

  lifecycle {
    postcondition {
      condition     = length(setsubtract(["10.20.1.0/24"], self.address_prefixes)) == 0
      error_message = "The agent subnet's address range is not the policy's foundry-agents smart group (corral.yaml:14): fix the policy or agent_subnet_name."
    }
    postcondition {
      condition     = self.route_table_id == "" || endswith(lower(self.route_table_id), lower("/routeTables/${var.instance_name}-agents-egress"))
      error_message = "The agent subnet already has a route table that this module does not own: detach it first (this module replaces it and would not restore it)."
    }
  }
}

# Only with create_agent_subnet: the hosted-agent subnet, smart group foundry-agents (corral.yaml:14): delegated to
# Microsoft.App/environments, in the Foundry account's region (/27 at least, /24 recommended).
resource "azurerm_subnet" "agents" {
  count                = var.create_agent_subnet ? 1 : 0
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

locals {
  agent_subnet_id   = one(concat(azurerm_subnet.agents[*].id, data.azurerm_subnet.agents[*].id))
  agent_subnet_name = one(concat(azurerm_subnet.agents[*].name, data.azurerm_subnet.agents[*].name))
}

# The Aviatrix spoke gateway subnet (both gateways of the HA pair, in different zones).
resource "azurerm_subnet" "aviatrix_gateway" {
  name                 = var.gateway_subnet_name
  resource_group_name  = var.resource_group_name
  virtual_network_name = data.azurerm_virtual_network.foundry.name
  address_prefixes     = [var.gateway_subnet_cidr]
}

# The agent subnet's routes, each its own resource so that their order is explicit (no inline routes).
resource "azurerm_route_table" "agents" {
  name                = "${var.instance_name}-agents-egress"
  location            = data.azurerm_virtual_network.foundry.location
  resource_group_name = var.resource_group_name
  # A default route learned from a VPN or ExpressRoute gateway would bypass the spoke gateway.
  bgp_route_propagation_enabled = false
}

# Fail closed: the default route drops everything. It exists before the subnet uses the table and outlives the routes to the gateway.
resource "azurerm_route" "agents_blackhole" {
  name                = "default-blackhole"
  resource_group_name = var.resource_group_name
  route_table_name    = azurerm_route_table.agents.name
  address_prefix      = "0.0.0.0/0"
  next_hop_type       = "None"
}

# The subnet takes the table only once the blackhole is in it; destroy removes the association before the blackhole.
resource "azurerm_subnet_route_table_association" "agents" {
  subnet_id      = local.agent_subnet_id
  route_table_id = azurerm_route_table.agents.id

  depends_on = [azurerm_route.agents_blackhole]
}

# Egress to the spoke gateway: two halves of the address space, more specific than the blackhole, so removing them falls back to it.
resource "azurerm_route" "agents_low_half_via_gateway" {
  name                   = "default-0-via-aviatrix"
  resource_group_name    = var.resource_group_name
  route_table_name       = azurerm_route_table.agents.name
  address_prefix         = "0.0.0.0/1"
  next_hop_type          = "VirtualAppliance"
  next_hop_in_ip_address = aviatrix_spoke_gateway.foundry.private_ip

  # Only once the blackhole is in place and the rules exist; destroy removes this route first.
  depends_on = [azurerm_subnet_route_table_association.agents, aviatrix_dcf_ruleset.foundry_agents_eastus]
}

resource "azurerm_route" "agents_high_half_via_gateway" {
  name                   = "default-128-via-aviatrix"
  resource_group_name    = var.resource_group_name
  route_table_name       = azurerm_route_table.agents.name
  address_prefix         = "128.0.0.0/1"
  next_hop_type          = "VirtualAppliance"
  next_hop_in_ip_address = aviatrix_spoke_gateway.foundry.private_ip

  # Only once the blackhole is in place and the rules exist; destroy removes this route first.
  depends_on = [azurerm_subnet_route_table_association.agents, aviatrix_dcf_ruleset.foundry_agents_eastus]
}

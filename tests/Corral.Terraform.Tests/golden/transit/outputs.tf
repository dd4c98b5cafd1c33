# Outputs of the module for policy foundry-agents-eastus (corral.yaml), written by `corral terraform`.

output "agent_subnet_id" {
  description = "The delegated hosted-agent subnet (BYOVNet)."
  value       = local.agent_subnet_id
}

output "spoke_gateway_name" {
  description = "The Aviatrix spoke gateway."
  value       = aviatrix_spoke_gateway.foundry.gw_name
}

output "spoke_gateway_private_ip" {
  description = "The next hop of the agent subnet's default route."
  value       = aviatrix_spoke_gateway.foundry.private_ip
}

output "ha_spoke_gateway_private_ip" {
  description = "The HA gateway's private address."
  value       = aviatrix_spoke_gateway.foundry.ha_private_ip
}

output "egress_public_ips" {
  description = "The gateways' public addresses: egress to the internet leaves from these (single_ip_snat); give them to tool owners for their allowlists."
  value       = compact([aviatrix_spoke_gateway.foundry.public_ip, aviatrix_spoke_gateway.foundry.ha_public_ip])
}

output "agent_route_table_id" {
  description = "The agent subnet's route table (blackhole default, halves to the gateway)."
  value       = azurerm_route_table.agents.id
}

output "smart_group_uuids" {
  description = "Smart group UUIDs by policy name."
  value = {
    "foundry-agents"        = aviatrix_smart_group.foundry_agents.uuid
    "other-spoke-resources" = aviatrix_smart_group.other_spoke_resources.uuid
    "aca-svctag-aad"        = aviatrix_smart_group.aca_svctag_aad.uuid
    "aca-svctag-mcr"        = aviatrix_smart_group.aca_svctag_mcr.uuid
    "aca-svctag-afd"        = aviatrix_smart_group.aca_svctag_afd.uuid
    "aca-svctag-acr"        = aviatrix_smart_group.aca_svctag_acr.uuid
    "default-threatgroup"   = aviatrix_smart_group.default_threatgroup.uuid
  }
}

output "web_group_uuids" {
  description = "Web group UUIDs by policy name."
  value = {
    "aca-requirements-fqdns" = aviatrix_web_group.aca_requirements_fqdns.uuid
    "foundry-tool-calls"     = aviatrix_web_group.foundry_tool_calls.uuid
  }
}

output "dcf_rules_id" {
  description = "The resource that holds the DCF rules."
  value       = aviatrix_dcf_ruleset.foundry_agents_eastus.id
}

output "dcf_attachment_point" {
  description = "The attachment point the rules attach to (declare it in the root policy group)."
  value       = local.dcf_attachment_point
}

# Inputs of the module for policy foundry-agents-eastus (corral.yaml), written by `corral terraform`.
# Variables without a default must be set (terraform.tfvars or -var).

variable "azure_subscription_id" {
  description = "The Azure subscription of the Foundry spoke VNet (null: ARM_SUBSCRIPTION_ID)."
  type        = string
  default     = null
}

variable "aviatrix_account_name" {
  description = "The Azure access account onboarded in the Aviatrix controller."
  type        = string
}

variable "resource_group_name" {
  description = "The resource group of the existing Foundry spoke VNet."
  type        = string
}

variable "vnet_name" {
  description = "The existing Foundry spoke VNet (BYOVNet), in the same region as the Foundry account."
  type        = string
}

variable "agent_subnet_name" {
  description = "The hosted-agent subnet to create, delegated to Microsoft.App/environments."
  type        = string
  default     = "snet-foundry-agents"
}

variable "agent_smart_group_by_subnet" {
  description = "Match the agent smart group by Aviatrix's subnet discovery (type = \"subnet\") instead of by CIDR."
  type        = bool
  default     = false
}

variable "gateway_subnet_name" {
  description = "The subnet to create for the Aviatrix spoke gateways."
  type        = string
  default     = "snet-aviatrix-gateway"
}

variable "gateway_subnet_cidr" {
  description = "The gateway subnet's address range, inside the VNet's address space."
  type        = string
}

variable "aviatrix_region" {
  description = "The Azure region as Aviatrix names it (vpc_reg, e.g. \"East US\"): the Foundry account's region."
  type        = string
  default     = "East US"
}

variable "gateway_name" {
  description = "The spoke gateway's name in Aviatrix."
  type        = string
  default     = "foundry-agents-eastus-spoke"
}

variable "gateway_size" {
  description = "The size of each gateway of the HA pair."
  type        = string
  default     = "Standard_B2ms"
}

variable "gateway_zone" {
  description = "The availability zone of the primary gateway."
  type        = string
  default     = "az-1"
}

variable "ha_gateway_zone" {
  description = "The availability zone of the HA gateway."
  type        = string
  default     = "az-2"
}

variable "manage_dcf_config" {
  description = "Turn Distributed Cloud Firewall on for the controller (a controller-wide setting; false where another configuration owns it)."
  type        = bool
  default     = false
}

variable "transit_gateway_name" {
  description = "The existing Aviatrix transit gateway to attach the spoke to."
  type        = string
}

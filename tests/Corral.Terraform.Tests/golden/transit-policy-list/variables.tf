# Inputs of the module for policy foundry-agents-eastus (corral.yaml), written by `corral terraform`.
# Variables without a default must be set: copy terraform.tfvars.example to terraform.tfvars.

variable "instance_name" {
  description = "This deployment's name, first in the name of every object it makes in Aviatrix and Azure (e.g. \"foundry-eastus\"): unique per controller."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,22}[a-z0-9]$", var.instance_name))
    error_message = "The instance_name must be 3 to 24 lower-case letters, digits and dashes, starting with a letter."
  }
}

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
  description = "The hosted-agent subnet, delegated to Microsoft.App/environments: the existing one the Foundry account uses (BYOVNet), or the one to create with create_agent_subnet."
  type        = string
}

variable "create_agent_subnet" {
  description = "Create the agent subnet instead of taking the existing one (only where the Foundry account is not deployed yet)."
  type        = bool
  default     = false
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
  description = "The gateway subnet's address range, inside the VNet's address space (/28 at least)."
  type        = string

  validation {
    condition     = can(cidrhost(var.gateway_subnet_cidr, 0)) && can(regex("^[0-9.]+/[0-9]+$", var.gateway_subnet_cidr))
    error_message = "The gateway_subnet_cidr must be an IPv4 CIDR such as 10.20.0.0/28."
  }
}

variable "aviatrix_region" {
  description = "The Azure region as Aviatrix names it (vpc_reg, e.g. \"East US\"): the Foundry account's region."
  type        = string
  default     = "East US"
}

variable "gateway_size" {
  description = "The size of each gateway of the HA pair."
  type        = string
  default     = "Standard_B2ms"
}

variable "gateway_zone" {
  description = "The availability zone of the primary gateway (az-1, az-2 or az-3)."
  type        = string
  default     = "az-1"

  validation {
    condition     = can(regex("^az-[1-3]$", var.gateway_zone))
    error_message = "The gateway_zone must be az-1, az-2 or az-3."
  }
}

variable "ha_gateway_zone" {
  description = "The availability zone of the HA gateway (az-1, az-2 or az-3; not the primary's)."
  type        = string
  default     = "az-2"

  validation {
    condition     = can(regex("^az-[1-3]$", var.ha_gateway_zone))
    error_message = "The ha_gateway_zone must be az-1, az-2 or az-3."
  }
}

variable "transit_gateway_name" {
  description = "The existing Aviatrix transit gateway to attach the spoke to."
  type        = string
}

variable "replace_controller_policy_list" {
  description = "This module was written with --ruleset policy-list: it replaces the controller's whole DCF policy list, every rule of every other spoke included. Set true to confirm; plan refuses otherwise."
  type        = bool
  default     = false

  validation {
    condition     = var.replace_controller_policy_list
    error_message = "This module replaces the controller's whole DCF policy list: set replace_controller_policy_list = true only on a controller that serves nothing else."
  }
}

variable "manage_dcf_feature" {
  description = "Controller-wide: switch Distributed Cloud Firewall on (aviatrix_config_feature); destroying the module then switches it off for every gateway. Leave false where DCF is already on."
  type        = bool
  default     = false
}

variable "manage_default_action" {
  description = "Controller-wide: set the DCF default action (what happens to flows no rule of any ruleset matches) to the policy's defaultAction. The policy's own catch-all rule already contains the agents without it."
  type        = bool
  default     = false
}

variable "manage_mitm_ca" {
  description = "Controller-wide: upload mitm_ca_certificate_file and mitm_ca_private_key_file and make them the controller's active TLS interception CA, which signs every decrypted connection on the controller. False: the CA already active is used."
  type        = bool
  default     = false
}

variable "mitm_ca_certificate_file" {
  description = "PEM file of the interception CA certificate (`corral ca init` writes corral-ca/corral-ca.crt, or your own CA): the hosted agent containers must trust it."
  type        = string
  default     = null
}

variable "mitm_ca_private_key_file" {
  description = "PEM file of the interception CA's private key (with manage_mitm_ca; it is kept in the Terraform state, marked sensitive)."
  type        = string
  default     = null
}

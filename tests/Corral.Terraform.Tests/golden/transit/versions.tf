# Providers of the module for policy foundry-agents-eastus (corral.yaml), written by `corral terraform`.
# Aviatrix: pinned to controller release 9.0 (`corral terraform --controller`); the provider refuses a controller
# of another release line. Per-rule decrypt_policy needs 9.0, as the reference architecture says.

terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aviatrix = {
      source  = "AviatrixSystems/aviatrix"
      version = "~> 9.0.0"
    }
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 4.0"
    }
  }
}

# Aviatrix controller credentials come from AVIATRIX_CONTROLLER_IP, AVIATRIX_USERNAME and AVIATRIX_PASSWORD, never from this module.
provider "azurerm" {
  subscription_id = var.azure_subscription_id
  features {}
}

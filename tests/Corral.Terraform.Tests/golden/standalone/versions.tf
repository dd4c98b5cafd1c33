# Providers of the module for policy foundry-agents-eastus (corral.yaml), written by `corral terraform`.
# Aviatrix: controller 8.2 or later (per-rule decrypt_policy needs 9.0, as the reference architecture says).

terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aviatrix = {
      source  = "AviatrixSystems/aviatrix"
      version = ">= 8.2, < 10.0"
    }
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 4.0"
    }
  }
}

# Aviatrix controller credentials come from the provider's own settings (see its documentation), never from this module.
provider "azurerm" {
  subscription_id = var.azure_subscription_id
  features {}
}

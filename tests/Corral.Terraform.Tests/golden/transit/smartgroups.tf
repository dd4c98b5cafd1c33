# Smart groups of policy foundry-agents-eastus (corral.yaml), written by `corral terraform`.
# Edit the policy and run `corral terraform` again rather than editing this file.

locals {
  # Aviatrix's built-in smart groups have fixed UUIDs (seen in the provider's tests and community blueprints).
  anywhere_uuid        = "def000ad-0000-0000-0000-000000000000"
  public_internet_uuid = "def000ad-0000-0000-0000-000000000001"
}

# foundry-agents (corral.yaml:14): the hosted-agent subnet, source identity of the egress rules.
resource "aviatrix_smart_group" "foundry_agents" {
  name = "${var.instance_name}-foundry-agents"
  selector {
    dynamic "match_expressions" {
      for_each = var.agent_smart_group_by_subnet ? [] : ["10.20.1.0/24"]
      content {
        cidr = match_expressions.value
      }
    }
    dynamic "match_expressions" {
      for_each = var.agent_smart_group_by_subnet ? [local.agent_subnet_name] : []
      content {
        type         = "subnet"
        name         = match_expressions.value
        account_name = var.aviatrix_account_name
      }
    }
  }
}

# other-spoke-resources (corral.yaml:16).
resource "aviatrix_smart_group" "other_spoke_resources" {
  name = "${var.instance_name}-other-spoke-resources"
  selector {
    match_expressions {
      cidr = "10.30.0.0/16"
    }
  }
}

# aca-svctag-aad (corral.yaml:18): Azure service tag AzureActiveDirectory; Aviatrix keeps its ranges current.
resource "aviatrix_smart_group" "aca_svctag_aad" {
  name = "${var.instance_name}-aca-svctag-aad"
  selector {
    match_expressions {
      external = "azureips"
      ext_args = {
        service_name = "AzureActiveDirectory"
      }
    }
  }
}

# aca-svctag-mcr (corral.yaml:19): Azure service tag MicrosoftContainerRegistry; Aviatrix keeps its ranges current.
resource "aviatrix_smart_group" "aca_svctag_mcr" {
  name = "${var.instance_name}-aca-svctag-mcr"
  selector {
    match_expressions {
      external = "azureips"
      ext_args = {
        service_name = "MicrosoftContainerRegistry"
      }
    }
  }
}

# aca-svctag-afd (corral.yaml:20): Azure service tag AzureFrontDoor.FirstParty; Aviatrix keeps its ranges current.
resource "aviatrix_smart_group" "aca_svctag_afd" {
  name = "${var.instance_name}-aca-svctag-afd"
  selector {
    match_expressions {
      external = "azureips"
      ext_args = {
        service_name = "AzureFrontDoor.FirstParty"
      }
    }
  }
}

# aca-svctag-acr (corral.yaml:21): Azure service tag AzureContainerRegistry; Aviatrix keeps its ranges current.
resource "aviatrix_smart_group" "aca_svctag_acr" {
  name = "${var.instance_name}-aca-svctag-acr"
  selector {
    match_expressions {
      external = "azureips"
      ext_args = {
        service_name = "AzureContainerRegistry"
      }
    }
  }
}

# default-threatgroup (corral.yaml:37): a threat group. Aviatrix has no threat-group resource, so this is a smart group
# on Aviatrix's ThreatIQ feed (external = "threatiq"; ext_args can narrow it by type or severity).
# The local feed files (feeds/threat-ips.txt, feeds/threat-domains.txt) are what the Corral gateway enforces;
# they list no addresses to carry over; domains cannot be carried over (see README.md).
resource "aviatrix_smart_group" "default_threatgroup" {
  name = "${var.instance_name}-default-threatgroup"
  selector {
    match_expressions {
      external = "threatiq"
    }
  }
}

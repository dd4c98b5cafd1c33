# Distributed Cloud Firewall rules of policy foundry-agents-eastus (corral.yaml), written by `corral terraform`.
# Rules are in priority order; the first rule that matches decides. Promote a rule from watch to enforce in the policy
# (mode: enforce) and run `corral terraform` again: `watch = false` is the only line that changes.

# DCF is a controller-wide switch; leave var.manage_dcf_config false where another configuration owns it.
resource "aviatrix_distributed_firewalling_config" "dcf" {
  count                          = var.manage_dcf_config ? 1 : 0
  enable_distributed_firewalling = true
}

# Rules written by Terraform are evaluated before the rules managed in the controller's UI.
data "aviatrix_dcf_attachment_point" "terraform_before_ui" {
  name = "TERRAFORM_BEFORE_UI_MANAGED"
}

resource "aviatrix_dcf_ruleset" "foundry_agents_eastus" {
  attach_to  = data.aviatrix_dcf_attachment_point.terraform_before_ui.id
  name       = "foundry-agents-eastus"
  depends_on = [aviatrix_distributed_firewalling_config.dcf]

  # deny-threat-intel (corral.yaml:43)
  rules {
    name             = "deny-threat-intel"
    action           = "DENY"
    priority         = 1
    protocol         = "ANY"
    src_smart_groups = [aviatrix_smart_group.foundry_agents.uuid]
    dst_smart_groups = [aviatrix_smart_group.default_threatgroup.uuid]
    watch            = false
    logging          = true
  }

  # allow-aca-fqdn (corral.yaml:45)
  rules {
    name             = "allow-aca-fqdn"
    action           = "PERMIT"
    priority         = 2
    protocol         = "TCP"
    src_smart_groups = [aviatrix_smart_group.foundry_agents.uuid]
    dst_smart_groups = [local.public_internet_uuid]
    web_groups       = [aviatrix_web_group.aca_requirements_fqdns.uuid]
    decrypt_policy   = "DECRYPT_NOT_ALLOWED"
    watch            = false
    logging          = true
    port_ranges {
      lo = 443
    }
  }

  # allow-aca-svctag (corral.yaml:47)
  rules {
    name             = "allow-aca-svctag"
    action           = "PERMIT"
    priority         = 3
    protocol         = "TCP"
    src_smart_groups = [aviatrix_smart_group.foundry_agents.uuid]
    dst_smart_groups = [aviatrix_smart_group.aca_svctag_aad.uuid, aviatrix_smart_group.aca_svctag_mcr.uuid, aviatrix_smart_group.aca_svctag_afd.uuid, aviatrix_smart_group.aca_svctag_acr.uuid]
    decrypt_policy   = "DECRYPT_NOT_ALLOWED"
    watch            = false
    logging          = true
    port_ranges {
      lo = 443
    }
  }

  # allow-tool-calls (corral.yaml:49)
  rules {
    name             = "allow-tool-calls"
    action           = "PERMIT"
    priority         = 4
    protocol         = "TCP"
    src_smart_groups = [aviatrix_smart_group.foundry_agents.uuid]
    dst_smart_groups = [local.public_internet_uuid]
    web_groups       = [aviatrix_web_group.foundry_tool_calls.uuid]
    decrypt_policy   = "DECRYPT_ALLOWED"
    watch            = false
    logging          = true
    port_ranges {
      lo = 443
    }
  }

  # default-deny-internet (corral.yaml:51)
  rules {
    name             = "default-deny-internet"
    action           = "DENY"
    priority         = 5
    protocol         = "ANY"
    src_smart_groups = [aviatrix_smart_group.foundry_agents.uuid]
    dst_smart_groups = [local.public_internet_uuid]
    watch            = false
    logging          = true
  }

  # deny-east-west (corral.yaml:53)
  rules {
    name             = "deny-east-west"
    action           = "DENY"
    priority         = 6
    protocol         = "ANY"
    src_smart_groups = [aviatrix_smart_group.foundry_agents.uuid]
    dst_smart_groups = [aviatrix_smart_group.other_spoke_resources.uuid]
    watch            = false
    logging          = true
  }
}

# defaultAction: deny: what happens when no rule matches (once DCF is on, Aviatrix's own default is PERMIT without logging).
# Controller-wide: it also decides unmatched flows of every other DCF-enforcing gateway on this controller.
resource "aviatrix_distributed_firewalling_default_action_rule" "default" {
  action     = "DENY"
  logging    = true
  depends_on = [aviatrix_distributed_firewalling_config.dcf]
}

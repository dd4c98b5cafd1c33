# Distributed Cloud Firewall rules of policy foundry-agents-eastus (corral.yaml), written by `corral terraform`.
# Rules are in priority order; the first rule that matches decides. Promote a rule from watch to enforce in the policy
# (mode: enforce) and run `corral terraform` again: `watch = false` is the only line that changes.

# DCF is a controller-wide switch; leave var.manage_dcf_config false where another configuration owns it.
resource "aviatrix_distributed_firewalling_config" "dcf" {
  count                          = var.manage_dcf_config ? 1 : 0
  enable_distributed_firewalling = true
}

# This resource owns the controller's whole DCF policy list: rules made elsewhere are replaced on apply.
resource "aviatrix_distributed_firewalling_policy_list" "foundry_agents_eastus" {
  depends_on = [aviatrix_distributed_firewalling_config.dcf]

  # deny-threat-intel (corral.yaml:43)
  policies {
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
  policies {
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
  policies {
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
  policies {
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
  policies {
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
  policies {
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

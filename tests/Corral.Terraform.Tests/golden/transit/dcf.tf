# Distributed Cloud Firewall rules of policy foundry-agents-eastus (corral.yaml), written by `corral terraform`.
# Rules are in priority order; the first rule that matches decides. Promote a rule from watch to enforce in the policy
# (mode: enforce, or the gateway dashboard's Promote) and run `corral terraform` again: `watch = false` is the only line that changes.
# Controller-wide objects are made only when their manage_* variable is true (default false).

# Controller-wide: DCF (feature "microseg") on. Destroying it switches DCF off for every gateway (the provider's delete disables it).
resource "aviatrix_config_feature" "dcf" {
  count        = var.manage_dcf_feature ? 1 : 0
  feature_name = "microseg"
  is_enabled   = true
}

# Controller-wide: the TLS interception CA for rules with decrypt_policy = "DECRYPT_ALLOWED" (var.manage_mitm_ca).
# Until the hosted agent containers trust it, every decrypted tool call fails TLS.
resource "aviatrix_dcf_mitm_ca" "interception" {
  count             = var.manage_mitm_ca ? 1 : 0
  name              = "${var.instance_name}-mitm-ca"
  key               = file(var.mitm_ca_private_key_file)
  certificate_chain = file(var.mitm_ca_certificate_file)

  lifecycle {
    precondition {
      condition     = var.mitm_ca_certificate_file != null && var.mitm_ca_private_key_file != null
      error_message = "The manage_mitm_ca option needs mitm_ca_certificate_file and mitm_ca_private_key_file (corral ca init writes both)."
    }
  }
}

# One CA is active per controller; destroying the selection makes the controller renew and activate its own default CA.
resource "aviatrix_dcf_mitm_ca_selection" "interception" {
  count = var.manage_mitm_ca ? 1 : 0
  ca_id = aviatrix_dcf_mitm_ca.interception[0].ca_id
}

# This module's own attachment point: one object may attach to an attachment point, so each module has its own.
locals {
  dcf_attachment_point = coalesce(var.dcf_attachment_point, "corral-${var.instance_name}")
}

data "aviatrix_dcf_attachment_point" "terraform_before_ui" {
  count = var.manage_dcf_root_policy_group ? 1 : 0
  name  = "TERRAFORM_BEFORE_UI_MANAGED"
}

# Controller-wide: the one policy group at TERRAFORM_BEFORE_UI_MANAGED, declaring an attachment point per module (evaluated in
# priority order, before the UI's rules). Made only by the module that owns the root (var.manage_dcf_root_policy_group).
resource "aviatrix_dcf_policy_group" "root" {
  count     = var.manage_dcf_root_policy_group ? 1 : 0
  attach_to = data.aviatrix_dcf_attachment_point.terraform_before_ui[0].id
  name      = "corral-root"

  dynamic "attachment_point" {
    for_each = concat([local.dcf_attachment_point], var.dcf_root_attachment_points)
    content {
      name     = attachment_point.value
      priority = (attachment_point.key + 1) * 100
    }
  }

  depends_on = [aviatrix_config_feature.dcf]
}

data "aviatrix_dcf_attachment_point" "rules" {
  name       = local.dcf_attachment_point
  depends_on = [aviatrix_dcf_policy_group.root]
}

# The policy's rules, its catch-all included: the rules decide only flows from this module's own smart groups.
resource "aviatrix_dcf_ruleset" "foundry_agents_eastus" {
  attach_to  = data.aviatrix_dcf_attachment_point.rules.id
  name       = "${var.instance_name}-foundry-agents-eastus"
  depends_on = [aviatrix_config_feature.dcf, aviatrix_dcf_mitm_ca_selection.interception]

  # deny-threat-intel (corral.yaml:46)
  rules {
    name             = "deny-threat-intel"
    action           = "DENY"
    priority         = 1
    protocol         = "ANY"
    src_smart_groups = [aviatrix_smart_group.foundry_agents.uuid]
    dst_smart_groups = [aviatrix_smart_group.default_threatgroup.uuid]
    watch            = true
    logging          = true
  }

  # allow-aca-fqdn (corral.yaml:48)
  rules {
    name             = "allow-aca-fqdn"
    action           = "PERMIT"
    priority         = 2
    protocol         = "TCP"
    src_smart_groups = [aviatrix_smart_group.foundry_agents.uuid]
    dst_smart_groups = [local.public_internet_uuid]
    web_groups       = [aviatrix_web_group.aca_requirements_fqdns.uuid]
    decrypt_policy   = "DECRYPT_NOT_ALLOWED"
    watch            = true
    logging          = true
    port_ranges {
      lo = 443
    }
  }

  # allow-aca-svctag (corral.yaml:51)
  rules {
    name                 = "allow-aca-svctag"
    action               = "PERMIT"
    priority             = 3
    protocol             = "TCP"
    src_smart_groups     = [aviatrix_smart_group.foundry_agents.uuid]
    dst_smart_groups     = [aviatrix_smart_group.aca_svctag_aad.uuid, aviatrix_smart_group.aca_svctag_mcr.uuid, aviatrix_smart_group.aca_svctag_afd.uuid, aviatrix_smart_group.aca_svctag_acr.uuid]
    decrypt_policy       = "DECRYPT_NOT_ALLOWED"
    flow_app_requirement = "TLS_REQUIRED"
    watch                = true
    logging              = true
    port_ranges {
      lo = 443
    }
  }

  # allow-tool-calls (corral.yaml:53)
  rules {
    name             = "allow-tool-calls"
    action           = "PERMIT"
    priority         = 4
    protocol         = "TCP"
    src_smart_groups = [aviatrix_smart_group.foundry_agents.uuid]
    dst_smart_groups = [local.public_internet_uuid]
    web_groups       = [aviatrix_web_group.foundry_tool_calls.uuid]
    decrypt_policy   = "DECRYPT_ALLOWED"
    watch            = true
    logging          = true
    port_ranges {
      lo = 443
    }
  }

  # default-deny-internet (corral.yaml:55)
  rules {
    name             = "default-deny-internet"
    action           = "DENY"
    priority         = 5
    protocol         = "ANY"
    src_smart_groups = [aviatrix_smart_group.foundry_agents.uuid]
    dst_smart_groups = [local.public_internet_uuid]
    watch            = true
    logging          = true
  }

  # deny-east-west (corral.yaml:57)
  rules {
    name             = "deny-east-west"
    action           = "DENY"
    priority         = 6
    protocol         = "ANY"
    src_smart_groups = [aviatrix_smart_group.foundry_agents.uuid]
    dst_smart_groups = [aviatrix_smart_group.other_spoke_resources.uuid]
    watch            = true
    logging          = true
  }
}

# Controller-wide: defaultAction: deny decides the unmatched flows of every DCF gateway on the
# controller (Aviatrix's own default is PERMIT without logging); destroying it resets that. The policy's catch-all rule
# already contains this module's agents, so only the controller's owner sets var.manage_default_action.
resource "aviatrix_distributed_firewalling_default_action_rule" "default" {
  count      = var.manage_default_action ? 1 : 0
  action     = "DENY"
  logging    = true
  depends_on = [aviatrix_config_feature.dcf]
}

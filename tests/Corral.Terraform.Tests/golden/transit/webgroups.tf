# Web groups of policy foundry-agents-eastus (corral.yaml), written by `corral terraform`.
# A snifilter matches the TLS server name; a urlfilter needs a rule that may decrypt (decrypt_policy = "DECRYPT_ALLOWED").

# aca-requirements-fqdns (corral.yaml:28)
resource "aviatrix_web_group" "aca_requirements_fqdns" {
  name = "${var.instance_name}-aca-requirements-fqdns"
  selector {
    match_expressions {
      snifilter = "mcr.microsoft.com"
    }
    match_expressions {
      snifilter = "*.data.mcr.microsoft.com"
    }
    match_expressions {
      snifilter = "packages.aks.azure.com"
    }
    match_expressions {
      snifilter = "acs-mirror.azureedge.net"
    }
    match_expressions {
      snifilter = "*.identity.azure.net"
    }
    match_expressions {
      snifilter = "login.microsoftonline.com"
    }
    match_expressions {
      snifilter = "*.login.microsoftonline.com"
    }
    match_expressions {
      snifilter = "*.login.microsoft.com"
    }
  }
}

# foundry-tool-calls (corral.yaml:31)
resource "aviatrix_web_group" "foundry_tool_calls" {
  name = "${var.instance_name}-foundry-tool-calls"
  selector {
    match_expressions {
      snifilter = "mcp.contoso.com"
    }
    match_expressions {
      snifilter = "api.github.com"
    }
    match_expressions {
      urlfilter = "api.github.com/repos/contoso/*"
    }
  }
}

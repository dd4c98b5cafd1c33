using System.Text;
using Corral.Policy.Model;

namespace Corral.Terraform.Mapping;

/// <summary>README.md of the module: what it deploys, the rules in order, the inputs, what Aviatrix cannot express, and the provider facts it relies on.</summary>
public static class ModuleReadme
{
    public const string FileName = "README.md";

    public static string Write(ModuleContext context, IReadOnlyList<ExportWarning> warnings)
    {
        var d = context.Document;
        var o = context.Options;
        var sb = new StringBuilder();
        sb.Append($"# Aviatrix DCF module for policy `{d.Name}`\n\n");
        sb.Append($"Written by `corral terraform` from `{context.PolicyFileName}` (policy hash `{d.ContentHash[..16]}`). ");
        sb.Append("The policy is the source of truth: change it, run `corral check`, then `corral terraform` again; do not edit these files.\n\n");
        sb.Append($"- Gateway: **{(o.Gateway == GatewayMode.Transit ? "transit" : "standalone")}**" +
                  (o.Gateway == GatewayMode.Transit ? " (attached to `var.transit_gateway_name`)" : " (egress straight from the spoke)") + "\n");
        sb.Append($"- Rules: **{(o.Ruleset == RulesetKind.DcfRuleset ? "`aviatrix_dcf_ruleset` at this module's own attachment point (`var.dcf_attachment_point`, default `corral-<instance_name>`)" : "`aviatrix_distributed_firewalling_policy_list` (owns the controller's whole list; needs `replace_controller_policy_list = true`)")}**\n");
        sb.Append($"- Controller release: **{VersionsFile.ReleaseName(o.Controller)}** (provider `AviatrixSystems/aviatrix {VersionsFile.AviatrixConstraint(o.Controller)}`; `corral terraform --controller` picks the line)\n");
        sb.Append($"- Every object's name starts with `var.instance_name`, so modules of several policies, VNets or regions coexist on one controller.\n\n");

        sb.Append("## What the controller must already have\n\n");
        sb.Append("Nothing controller-wide is changed unless you opt in with its variable (all default to `false`):\n\n");
        sb.Append("| Needed | Already there (default) | Or opt in (only on a controller this module alone owns, or in the one module that owns it) |\n|---|---|---|\n");
        sb.Append($"| Distributed Cloud Firewall on | enabled in CoPilot (Security → Distributed Cloud Firewall) | `{VariablesFile.ManageDcfFeature} = true` (`{DcfFile.DcfFeatureResource(o.Controller)}`; destroy switches DCF off for every gateway) |\n");
        if (o.Ruleset == RulesetKind.DcfRuleset)
            sb.Append($"| The attachment point `corral-<instance_name>` | declared by the policy group at {DcfFile.TerraformBeforeUi} (see *More than one VNet*) | `{VariablesFile.ManageDcfRoot} = true` (the module owns that one policy group) |\n");
        sb.Append($"| A default action for unmatched flows | the controller's own (the policy's catch-all rule contains this module's agents) | `{VariablesFile.ManageDefaultAction} = true` (`aviatrix_distributed_firewalling_default_action_rule`, {(d.DefaultAction == RuleAction.Permit ? "PERMIT" : "DENY")}) |\n");
        if (context.Decrypts)
            sb.Append($"| The active TLS interception CA, trusted by the hosted agent containers | the controller's active CA | `{VariablesFile.ManageMitmCa} = true` with `mitm_ca_certificate_file` and `mitm_ca_private_key_file` (`{(o.Controller == ControllerRelease.V8_2 ? "aviatrix_distributed_firewalling_proxy_ca_config" : "aviatrix_dcf_mitm_ca` + `aviatrix_dcf_mitm_ca_selection")}`) |\n");
        sb.Append("| An Azure access account onboarded in the controller | `aviatrix_account_name` | – |\n\n");
        if (context.Decrypts)
            sb.Append("This policy decrypts (a rule has `decrypt: allowed`): until the hosted agent containers trust the controller's active interception CA, " +
                      "every decrypted call fails TLS. Put the CA certificate into the agent image's trust store (docs/trust-store.md in Corral) before promoting those rules." +
                      (context.Document.Tls.InterceptionCa is { } ca
                          ? $" The policy declares that certificate (tls.interceptionCa: {ca.Path}); `{VariablesFile.InterceptionCaFile}` here is its copy and the default of mitm_ca_certificate_file."
                          : "") + "\n\n");

        sb.Append("## Credentials\n\n");
        sb.Append("- Aviatrix: `AVIATRIX_CONTROLLER_IP`, `AVIATRIX_USERNAME`, `AVIATRIX_PASSWORD` (the provider's own environment variables; never in this module).\n");
        sb.Append("- Azure: `az login`, or `ARM_CLIENT_ID`, `ARM_CLIENT_SECRET` (or `ARM_USE_OIDC`), `ARM_TENANT_ID`, `ARM_SUBSCRIPTION_ID`.\n\n");

        sb.Append("## Files\n\n| File | Contents |\n|---|---|\n");
        sb.Append("| versions.tf | Terraform and provider versions (AviatrixSystems/aviatrix " + VersionsFile.AviatrixConstraint(o.Controller) + ", hashicorp/azurerm " + VersionsFile.AzurermConstraint + ") |\n");
        sb.Append("| variables.tf | inputs, with validations; the controller-wide opt-ins |\n");
        sb.Append("| terraform.tfvars.example | every input to set, and the opt-ins, to copy to terraform.tfvars |\n");
        sb.Append("| smartgroups.tf | `aviatrix_smart_group` per smart group and threat group; built-in group UUIDs |\n");
        sb.Append("| webgroups.tf | `aviatrix_web_group` per web group (`snifilter` per domain, `urlfilter` per URL) |\n");
        sb.Append("| dcf.tf | the rules in priority order, and the opt-in controller-wide objects |\n");
        sb.Append("| network.tf | the existing agent subnet (or a new one), gateway subnet, route table: blackhole 0.0.0.0/0, halves → spoke gateway |\n");
        sb.Append("| gateway.tf | `aviatrix_spoke_gateway` HA pair" + (o.Gateway == GatewayMode.Transit ? " and `aviatrix_spoke_transit_attachment`" : "") + " |\n");
        sb.Append("| outputs.tf | subnet id, gateway addresses (private, and the public egress addresses), group UUIDs |\n\n");

        sb.Append("## Rules (first match wins)\n\n| Priority | Rule | Action | Source | Destination | Web groups | Decrypt | Mode | Policy line |\n|---|---|---|---|---|---|---|---|---|\n");
        foreach (var rule in context.Policy.Rules)
        {
            var r = rule.Rule;
            var destination = r.Destination.Count > 0 ? string.Join(", ", r.Destination.Select(x => x.Value)) : rule.HasWebGroups ? "public-internet" : "anywhere";
            sb.Append($"| {r.Priority} | {r.Name} | {(r.Action == RuleAction.Permit ? "PERMIT" : "DENY")} | ")
              .Append(r.Source.Count > 0 ? string.Join(", ", r.Source.Select(x => x.Value)) : "anywhere").Append(" | ")
              .Append(destination).Append(" | ")
              .Append(r.WebGroups.Count > 0 ? string.Join(", ", r.WebGroups.Select(x => x.Value)) : "–").Append(" | ")
              .Append(r.Action == RuleAction.Permit ? (r.Decrypt == DecryptPolicy.Allowed ? "DECRYPT_ALLOWED" : "DECRYPT_NOT_ALLOWED") : "–").Append(" | ")
              .Append(r.Mode == RuleMode.Watch ? "watch" : "enforce").Append(" | ")
              .Append(context.Cite(r.Location)).Append(" |\n");
        }

        sb.Append("\n## Deploy\n\n```sh\ncp terraform.tfvars.example terraform.tfvars   # set instance_name and the other inputs\nterraform init\nterraform plan -out plan.tfplan\nterraform apply plan.tfplan\n```\n\n");
        sb.Append("Required inputs: `instance_name`, `aviatrix_account_name`, `resource_group_name`, `vnet_name`, `agent_subnet_name`, `gateway_subnet_cidr`");
        if (AzureRegions.DisplayName(d.ServiceTags?.Region) is null) sb.Append(", `aviatrix_region`");
        if (o.Gateway == GatewayMode.Transit && o.TransitGatewayName is null) sb.Append(", `transit_gateway_name`");
        sb.Append(". The agent subnet is the existing one the Foundry account uses (BYOVNet); `create_agent_subnet = true` creates it instead.\n\n");

        sb.Append("## Order: routing fails closed\n\n");
        sb.Append("Apply: the route table and its blackhole route (0.0.0.0/0 → None), then the association with the agent subnet (from here on nothing leaves it), ");
        sb.Append("the groups and rules, the spoke gateway, and last the two routes 0.0.0.0/1 and 128.0.0.0/1 → the gateway (more specific than the blackhole). ");
        sb.Append("Destroy runs in reverse: the routes to the gateway go first, so egress falls back to the blackhole while the gateway and its rules still exist. ");
        sb.Append("At no moment does the agent subnet route anywhere but the gateway or the blackhole. Gateway-learned routes are not propagated into the table.\n\n");

        sb.Append("## Back-out: one action\n\n```sh\nterraform destroy\n```\n\n");
        sb.Append("It removes only this module's objects (their names start with `instance_name`); other modules, other spokes and rules managed elsewhere are untouched, ");
        sb.Append("as are the controller-wide objects unless this module opted in to own them. When it finishes, the agent subnet has the routing it had before the module ");
        sb.Append("(no route table of this module): stop the hosted agents first if the subnet must not egress without the gateway. ");
        sb.Append("To stop egress without removing anything else, `terraform destroy -target=azurerm_route.agents_low_half_via_gateway -target=azurerm_route.agents_high_half_via_gateway` leaves the blackhole in place.\n\n");

        if (o.Ruleset == RulesetKind.DcfRuleset)
        {
            sb.Append("## More than one VNet\n\n");
            sb.Append($"The provider attaches one object to an attachment point, so each module's ruleset attaches at its own (`corral-<instance_name>`), which one policy group at {DcfFile.TerraformBeforeUi} declares. ");
            sb.Append($"Either the first module owns that policy group (`{VariablesFile.ManageDcfRoot} = true`, and `dcf_root_attachment_points` lists the others' attachment points; destroy it last), ");
            sb.Append("or it lives in a configuration of its own:\n\n```hcl\n");
            sb.Append($"data \"aviatrix_dcf_attachment_point\" \"tf_before_ui\" {{\n  name = \"{DcfFile.TerraformBeforeUi}\"\n}}\n\n");
            sb.Append($"resource \"aviatrix_dcf_policy_group\" \"corral\" {{\n  name      = \"{DcfFile.RootPolicyGroupName}\"\n  attach_to = data.aviatrix_dcf_attachment_point.tf_before_ui.id\n\n");
            sb.Append("  attachment_point {\n    name     = \"corral-foundry-eastus\"\n    priority = 100\n  }\n  attachment_point {\n    name     = \"corral-foundry-westeurope\"\n    priority = 200\n  }\n}\n```\n\n");
            sb.Append("Attachment points are evaluated in priority order; each module's rules match only its own agents' smart group, so their order matters only where sources overlap.\n\n");
        }

        sb.Append("## Watch before enforce\n\n");
        sb.Append("`corral init` writes every rule `mode: watch`: deploy, read the DCF logs (and `corral replay`), then promote rule by rule (`mode: enforce`) ");
        sb.Append("and regenerate: only `watch` changes in dcf.tf. Rolling back a rule is the same flag.\n\n");

        sb.Append("## Not carried over to Aviatrix\n\nCorral enforces these in its own gateway; the module cannot express them. `corral terraform` prints the same list on stderr.\n\n");
        foreach (var w in warnings) sb.Append($"- `{w.Code}` ({context.Cite(w.Location)}): {w.Message}\n");

        sb.Append("\n## Provider facts this module relies on\n\n");
        sb.Append("Every argument, block and enum value is checked in Corral's tests against the AviatrixSystems/aviatrix provider's own schema ");
        sb.Append($"(its Go source at {string.Join(" and ", ProviderFacts.CheckedAviatrixReleases)}) and azurerm's at v4.0.0. ");
        sb.Append("The facts below are from the providers' published documentation (AviatrixSystems/terraform-provider-aviatrix `docs/`, ");
        sb.Append("hashicorp/terraform-provider-azurerm `website/docs/`):\n\n");
        foreach (var fact in ProviderFacts.All) sb.Append($"- {fact.Statement} — `{fact.Source}`\n");
        sb.Append("\nNot settled by those docs (confirm before relying on them):\n\n");
        foreach (var item in ProviderFacts.Unconfirmed) sb.Append($"- {item}\n");
        return sb.ToString();
    }
}

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
        sb.Append($"- Rules: **{(o.Ruleset == RulesetKind.DcfRuleset ? "`aviatrix_dcf_ruleset` at TERRAFORM_BEFORE_UI_MANAGED" : "`aviatrix_distributed_firewalling_policy_list` (owns the whole list)")}**\n");
        sb.Append($"- Default action: **{(d.DefaultAction == RuleAction.Permit ? "PERMIT" : "DENY")}** (`aviatrix_distributed_firewalling_default_action_rule`)\n\n");

        sb.Append("## Files\n\n| File | Contents |\n|---|---|\n");
        sb.Append("| versions.tf | Terraform and provider versions (AviatrixSystems/aviatrix " + VersionsFile.AviatrixConstraint.Replace("<", "&lt;") + ", hashicorp/azurerm " + VersionsFile.AzurermConstraint + ") |\n");
        sb.Append("| variables.tf | inputs: accounts, the existing VNet, the gateway subnet, sizes and zones |\n");
        sb.Append("| smartgroups.tf | `aviatrix_smart_group` per smart group and threat group; built-in group UUIDs |\n");
        sb.Append("| webgroups.tf | `aviatrix_web_group` per web group (`snifilter` per domain, `urlfilter` per URL) |\n");
        sb.Append("| dcf.tf | the rules in priority order, the default action, DCF on |\n");
        sb.Append("| network.tf | agent subnet (delegated to Microsoft.App/environments), gateway subnet, route table 0.0.0.0/0 → spoke gateway |\n");
        sb.Append("| gateway.tf | `aviatrix_spoke_gateway` HA pair" + (o.Gateway == GatewayMode.Transit ? " and `aviatrix_spoke_transit_attachment`" : "") + " |\n");
        sb.Append("| outputs.tf | subnet id, gateway addresses, group UUIDs |\n\n");

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

        sb.Append("\n## Deploy\n\n```sh\nterraform init\nterraform plan -out plan.tfplan    # set the variables without defaults first\nterraform apply plan.tfplan\n```\n\n");
        sb.Append("Required inputs: `aviatrix_account_name`, `resource_group_name`, `vnet_name`, `gateway_subnet_cidr`");
        if (AzureRegions.DisplayName(d.ServiceTags?.Region) is null) sb.Append(", `aviatrix_region`");
        if (context.AgentGroup is null) sb.Append(", `agent_subnet_cidr`");
        if (o.Gateway == GatewayMode.Transit && o.TransitGatewayName is null) sb.Append(", `transit_gateway_name`");
        sb.Append(". Aviatrix controller credentials are the provider's own settings.\n\n");
        sb.Append("Watch before enforce: write the rules with `mode: watch` (`corral init --watch`), deploy, read the DCF logs, then set `mode: enforce` ");
        sb.Append("rule by rule and regenerate: only `watch` changes in dcf.tf. Rolling back is the same flag.\n\n");

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

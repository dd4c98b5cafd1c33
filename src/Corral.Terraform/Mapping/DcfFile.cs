using Corral.Policy.Compilation;
using Corral.Policy.Model;
using Corral.Terraform.Hcl;

namespace Corral.Terraform.Mapping;

/// <summary>
/// dcf.tf: the rules in priority order (first match wins) as an <c>aviatrix_dcf_ruleset</c> attached before the UI's
/// rules, or as an <c>aviatrix_distributed_firewalling_policy_list</c>; and the default action rule.
/// </summary>
public static class DcfFile
{
    public const string FileName = "dcf.tf";
    public const string AttachmentPoint = "TERRAFORM_BEFORE_UI_MANAGED";

    // Rules need DCF switched on first (when this module is the one that switches it on).
    private const string DependsOnDcf = "[aviatrix_distributed_firewalling_config.dcf]";

    public static string Write(ModuleContext context)
    {
        var document = context.Document;
        var file = new HclBody();
        file.Comment($"Distributed Cloud Firewall rules of policy {document.Name} ({context.PolicyFileName}), written by `corral terraform`.");
        file.Comment("Rules are in priority order; the first rule that matches decides. Promote a rule from watch to enforce in the policy");
        file.Comment("(mode: enforce) and run `corral terraform` again: `watch = false` is the only line that changes.");

        file.TopBlock("resource", ["aviatrix_distributed_firewalling_config", "dcf"], b => b
            .Expression("count", "var.manage_dcf_config ? 1 : 0")
            .Attribute("enable_distributed_firewalling", true),
            "DCF is a controller-wide switch; leave var.manage_dcf_config false where another configuration owns it.");

        if (context.Options.Ruleset == RulesetKind.DcfRuleset)
        {
            file.TopBlock("data", ["aviatrix_dcf_attachment_point", "terraform_before_ui"], b => b.Attribute("name", AttachmentPoint),
                "Rules written by Terraform are evaluated before the rules managed in the controller's UI.");
            file.TopBlock("resource", ["aviatrix_dcf_ruleset", context.PolicyResourceName], b =>
            {
                b.Expression("attach_to", "data.aviatrix_dcf_attachment_point.terraform_before_ui.id");
                b.Attribute("name", document.Name);
                b.Expression("depends_on", DependsOnDcf);
                foreach (var rule in context.Policy.Rules) Rule(b, context, rule, "rules");
            });
        }
        else
        {
            file.TopBlock("resource", ["aviatrix_distributed_firewalling_policy_list", context.PolicyResourceName], b =>
            {
                b.Expression("depends_on", DependsOnDcf);
                foreach (var rule in context.Policy.Rules) Rule(b, context, rule, "policies");
            }, "This resource owns the controller's whole DCF policy list: rules made elsewhere are replaced on apply.");
        }

        var action = document.DefaultAction == RuleAction.Permit ? "PERMIT" : "DENY";
        file.TopBlock("resource", ["aviatrix_distributed_firewalling_default_action_rule", "default"], b => b
            .Attribute("action", action)
            .Attribute("logging", true)
            .Expression("depends_on", DependsOnDcf),
            $"defaultAction: {document.DefaultAction.ToString().ToLowerInvariant()}: what happens when no rule matches " +
            "(once DCF is on, Aviatrix's own default is PERMIT without logging).\n" +
            "Controller-wide: it also decides unmatched flows of every other DCF-enforcing gateway on this controller.");
        return HclWriter.Write(file);
    }

    private static void Rule(HclBody parent, ModuleContext context, CompiledRule compiled, string blockType)
    {
        var rule = compiled.Rule;
        parent.Blank();
        parent.Comment($"{rule.Name} ({context.Cite(rule.Location)})");
        parent.Block(blockType, b =>
        {
            b.Attribute("name", rule.Name);
            b.Attribute("action", rule.Action == RuleAction.Permit ? "PERMIT" : "DENY");
            b.Attribute("priority", rule.Priority);
            b.Attribute("protocol", Protocol(compiled));
            b.Attribute("src_smart_groups", References(rule.Source.Select(s => context.GroupUuid(s.Value)), AviatrixBuiltIns.AnywhereLocal));
            // Aviatrix applies web groups to egress: their rules target Public Internet unless the policy names destinations.
            var defaultDestination = compiled.HasWebGroups ? AviatrixBuiltIns.PublicInternetLocal : AviatrixBuiltIns.AnywhereLocal;
            b.Attribute("dst_smart_groups", References(rule.Destination.Select(d => context.GroupUuid(d.Value)), defaultDestination));
            if (compiled.HasWebGroups)
                b.Attribute("web_groups", References(rule.WebGroups.Select(w => context.WebGroupUuid(w.Value)), null));
            if (rule.Action == RuleAction.Permit)
                b.Attribute("decrypt_policy", rule.Decrypt == DecryptPolicy.Allowed ? "DECRYPT_ALLOWED" : "DECRYPT_NOT_ALLOWED");
            if (rule.RequireTls) b.Attribute("flow_app_requirement", "TLS_REQUIRED");
            b.Attribute("watch", rule.Mode == RuleMode.Watch);
            b.Attribute("logging", rule.Logging);
            // The policy core refuses ports on ICMP rules, as Aviatrix does; a single port is lo alone (the docs: hi defaults to lo).
            foreach (var range in rule.Ports)
                b.Block("port_ranges", p =>
                {
                    p.Attribute("lo", range.Low);
                    if (range.High != range.Low) p.Attribute("hi", range.High);
                });
        });
    }

    /// <summary>
    /// Upper case, as the provider stores it (lower case gives a perpetual diff). Web-group rules are TCP, as Aviatrix
    /// requires; the policy core already refuses web groups on UDP or ICMP, so this only narrows ANY, which for a
    /// hostname match means TCP anyway.
    /// </summary>
    private static string Protocol(CompiledRule rule) =>
        rule.HasWebGroups ? "TCP" : rule.Rule.Protocol switch
        {
            RuleProtocol.Tcp => "TCP",
            RuleProtocol.Udp => "UDP",
            RuleProtocol.Icmp => "ICMP",
            _ => "ANY",
        };

    private static HclExpression References(IEnumerable<string> expressions, string? whenEmpty)
    {
        var list = expressions.Distinct(StringComparer.Ordinal).ToList();
        if (list.Count == 0 && whenEmpty is not null) list.Add(whenEmpty);
        return HclExpression.List(list.Select(HclExpression.Raw));
    }
}

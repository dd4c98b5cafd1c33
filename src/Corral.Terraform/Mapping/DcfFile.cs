using Corral.Policy.Compilation;
using Corral.Policy.Model;
using Corral.Terraform.Hcl;

namespace Corral.Terraform.Mapping;

/// <summary>
/// dcf.tf: the rules in priority order (first match wins) as an <c>aviatrix_dcf_ruleset</c> attached at this module's
/// own attachment point, or as an <c>aviatrix_distributed_firewalling_policy_list</c>; and, each behind an opt-in
/// variable that defaults to false, the controller-wide objects: DCF switched on, the root policy group at
/// TERRAFORM_BEFORE_UI_MANAGED, the default action and the active TLS interception CA.
/// </summary>
/// <remarks>
/// The provider attaches one object to an attachment point (docs/resources/aviatrix_dcf_ruleset.md, v9.0.10: "We cannot
/// attach 2 objects to these attachment points"); several modules coexist as rulesets at attachment points of their own,
/// which a policy group at TERRAFORM_BEFORE_UI_MANAGED declares (aviatrix_dcf_policy_group's attachment_point blocks,
/// ordered by their priority).
/// </remarks>
public static class DcfFile
{
    public const string FileName = "dcf.tf";
    public const string TerraformBeforeUi = "TERRAFORM_BEFORE_UI_MANAGED";
    public const string RootPolicyGroupName = "corral-root";

    /// <summary>Controller 9.0 deprecates aviatrix_distributed_firewalling_config for aviatrix_config_feature "microseg".</summary>
    public static string DcfFeatureResource(ControllerRelease release) =>
        release == ControllerRelease.V8_2 ? "aviatrix_distributed_firewalling_config" : "aviatrix_config_feature";

    public static string DcfFeatureAddress(ControllerRelease release) => DcfFeatureResource(release) + ".dcf";

    public static string MitmCaAddress(ControllerRelease release) =>
        release == ControllerRelease.V8_2 ? "aviatrix_distributed_firewalling_proxy_ca_config.interception" : "aviatrix_dcf_mitm_ca_selection.interception";

    private static string OptIn(string variable) => $"var.{variable} ? 1 : 0";

    public static string Write(ModuleContext context)
    {
        var document = context.Document;
        var release = context.Options.Controller;
        var file = new HclBody();
        file.Comment($"Distributed Cloud Firewall rules of policy {document.Name} ({context.PolicyFileName}), written by `corral terraform`.");
        file.Comment("Rules are in priority order; the first rule that matches decides. Promote a rule from watch to enforce in the policy");
        file.Comment("(mode: enforce, or the gateway dashboard's Promote) and run `corral terraform` again: `watch = false` is the only line that changes.");
        file.Comment("Controller-wide objects are made only when their manage_* variable is true (default false).");

        if (release == ControllerRelease.V8_2)
            file.TopBlock("resource", ["aviatrix_distributed_firewalling_config", "dcf"], b => b
                .Expression("count", OptIn(VariablesFile.ManageDcfFeature))
                .Attribute("enable_distributed_firewalling", true),
                "Controller-wide: DCF on. Destroying it switches DCF off for every gateway (the provider's delete disables it).");
        else
            file.TopBlock("resource", ["aviatrix_config_feature", "dcf"], b => b
                .Expression("count", OptIn(VariablesFile.ManageDcfFeature))
                .Attribute("feature_name", "microseg")
                .Attribute("is_enabled", true),
                "Controller-wide: DCF (feature \"microseg\") on. Destroying it switches DCF off for every gateway (the provider's delete disables it).");

        var dependsOn = new List<string> { DcfFeatureAddress(release) };
        if (context.Decrypts)
        {
            MitmCa(file, release);
            dependsOn.Add(MitmCaAddress(release));
        }
        var dependsOnText = "[" + string.Join(", ", dependsOn) + "]";

        if (context.Options.Ruleset == RulesetKind.DcfRuleset)
        {
            file.TopBlock("locals", [], b => b.Expression("dcf_attachment_point", "coalesce(var.dcf_attachment_point, \"corral-${var.instance_name}\")"),
                "This module's own attachment point: one object may attach to an attachment point, so each module has its own.");
            file.TopBlock("data", ["aviatrix_dcf_attachment_point", "terraform_before_ui"], b => b
                .Expression("count", OptIn(VariablesFile.ManageDcfRoot))
                .Attribute("name", TerraformBeforeUi));
            file.TopBlock("resource", ["aviatrix_dcf_policy_group", "root"], b => b
                .Expression("count", OptIn(VariablesFile.ManageDcfRoot))
                .Expression("attach_to", "data.aviatrix_dcf_attachment_point.terraform_before_ui[0].id")
                .Attribute("name", RootPolicyGroupName)
                .Blank()
                .Block("dynamic", ["attachment_point"], d => d
                    .Expression("for_each", "concat([local.dcf_attachment_point], var.dcf_root_attachment_points)")
                    .Block("content", c => c
                        .Expression("name", "attachment_point.value")
                        .Expression("priority", "(attachment_point.key + 1) * 100")))
                .Blank()
                .Expression("depends_on", $"[{DcfFeatureAddress(release)}]"),
                "Controller-wide: the one policy group at " + TerraformBeforeUi + ", declaring an attachment point per module (evaluated in\n" +
                "priority order, before the UI's rules). Made only by the module that owns the root (var." + VariablesFile.ManageDcfRoot + ").");
            file.TopBlock("data", ["aviatrix_dcf_attachment_point", "rules"], b => b
                .Expression("name", "local.dcf_attachment_point")
                .Expression("depends_on", "[aviatrix_dcf_policy_group.root]"));
            file.TopBlock("resource", ["aviatrix_dcf_ruleset", context.PolicyResourceName], b =>
            {
                b.Expression("attach_to", "data.aviatrix_dcf_attachment_point.rules.id");
                b.Attribute("name", ModuleContext.ObjectName(document.Name));
                b.Expression("depends_on", dependsOnText);
                foreach (var rule in context.Policy.Rules) Rule(b, context, rule, "rules");
            }, "The policy's rules, its catch-all included: the rules decide only flows from this module's own smart groups.");
        }
        else
        {
            file.TopBlock("resource", ["aviatrix_distributed_firewalling_policy_list", context.PolicyResourceName], b =>
            {
                b.Expression("count", OptIn(VariablesFile.ReplacePolicyList));
                b.Expression("depends_on", dependsOnText);
                foreach (var rule in context.Policy.Rules) Rule(b, context, rule, "policies");
            }, "Controller-wide: this resource owns the controller's whole DCF policy list; rules made elsewhere are replaced on apply.");
        }

        var action = document.DefaultAction == RuleAction.Permit ? "PERMIT" : "DENY";
        file.TopBlock("resource", ["aviatrix_distributed_firewalling_default_action_rule", "default"], b => b
            .Expression("count", OptIn(VariablesFile.ManageDefaultAction))
            .Attribute("action", action)
            .Attribute("logging", true)
            .Expression("depends_on", $"[{DcfFeatureAddress(release)}]"),
            $"Controller-wide: defaultAction: {document.DefaultAction.ToString().ToLowerInvariant()} decides the unmatched flows of every DCF gateway on the\n" +
            "controller (Aviatrix's own default is PERMIT without logging); destroying it resets that. The policy's catch-all rule\n" +
            "already contains this module's agents, so only the controller's owner sets var." + VariablesFile.ManageDefaultAction + ".");
        return HclWriter.Write(file);
    }

    /// <summary>
    /// The interception CA that signs decrypted connections: one is active per controller, so making it active is an
    /// opt-in. 9.0 uploads a named CA and selects it; 8.2 has one proxy CA configuration.
    /// </summary>
    private static void MitmCa(HclBody file, ControllerRelease release)
    {
        const string Precondition = "var.mitm_ca_certificate_file != null && var.mitm_ca_private_key_file != null";
        const string Message = "The manage_mitm_ca option needs mitm_ca_certificate_file and mitm_ca_private_key_file (corral ca init writes both).";
        void Check(HclBody b) => b.Block("lifecycle", l => l.Block("precondition", p => p.Expression("condition", Precondition).Attribute("error_message", Message)));
        const string Comment = "Controller-wide: the TLS interception CA for rules with decrypt_policy = \"DECRYPT_ALLOWED\" (var." + VariablesFile.ManageMitmCa + ").\n" +
                               "Until the hosted agent containers trust it, every decrypted tool call fails TLS.";
        if (release == ControllerRelease.V8_2)
        {
            file.TopBlock("resource", ["aviatrix_distributed_firewalling_proxy_ca_config", "interception"], b =>
            {
                b.Expression("count", OptIn(VariablesFile.ManageMitmCa));
                b.Expression("ca_cert", "file(var.mitm_ca_certificate_file)");
                b.Expression("ca_key", "file(var.mitm_ca_private_key_file)");
                b.Blank();
                Check(b);
            }, Comment);
            return;
        }
        file.TopBlock("resource", ["aviatrix_dcf_mitm_ca", "interception"], b =>
        {
            b.Expression("count", OptIn(VariablesFile.ManageMitmCa));
            b.Attribute("name", ModuleContext.ObjectName("mitm-ca"));
            b.Expression("key", "file(var.mitm_ca_private_key_file)");
            b.Expression("certificate_chain", "file(var.mitm_ca_certificate_file)");
            b.Blank();
            Check(b);
        }, Comment);
        file.TopBlock("resource", ["aviatrix_dcf_mitm_ca_selection", "interception"], b => b
            .Expression("count", OptIn(VariablesFile.ManageMitmCa))
            .Expression("ca_id", "aviatrix_dcf_mitm_ca.interception[0].ca_id"),
            "One CA is active per controller; destroying the selection makes the controller renew and activate its own default CA.");
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

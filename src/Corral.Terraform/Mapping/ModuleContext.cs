using Corral.Policy.Compilation;
using Corral.Policy.Diagnostics;
using Corral.Policy.Model;
using Corral.Terraform.Hcl;

namespace Corral.Terraform.Mapping;

/// <summary>What every file of the module is written from: the compiled policy, the options and the resource names.</summary>
public sealed class ModuleContext
{
    public const string SmartGroupType = "aviatrix_smart_group";
    public const string WebGroupType = "aviatrix_web_group";

    public ModuleContext(CompiledPolicy policy, TerraformOptions options)
    {
        Policy = policy;
        Options = options;
        PolicyFileName = Path.GetFileName(policy.Document.FilePath);
        // Names are assigned in policy order up front so that they never depend on which file is written first.
        foreach (var g in Document.SmartGroups) Names.For(SmartGroupType, g.Name);
        foreach (var t in Document.ThreatGroups) Names.For(SmartGroupType, t.Name);
        foreach (var w in Document.WebGroups) Names.For(WebGroupType, w.Name);
        AgentGroup = AgentSubnetGroup.Find(policy);
    }

    public CompiledPolicy Policy { get; }
    public PolicyDocument Document => Policy.Document;
    public TerraformOptions Options { get; }
    public ResourceNames Names { get; } = new();

    /// <summary>The policy's file name, as comments cite it (<c>corral.yaml:12</c>); no directory, so output does not depend on where it ran.</summary>
    public string PolicyFileName { get; }

    /// <summary>The smart group that is the hosted-agent subnet, when the policy makes it clear; else null.</summary>
    public SmartGroup? AgentGroup { get; }

    /// <summary>The DCF resource name: the policy name as an identifier.</summary>
    public string PolicyResourceName => ResourceNames.Sanitize(Document.Name.Length > 0 ? Document.Name : "corral");

    /// <summary><c>corral.yaml:LINE</c>, for comments that point back at the policy.</summary>
    public string Cite(SourceLocation location) => location.Line > 0 ? $"{PolicyFileName}:{location.Line}" : PolicyFileName;

    /// <summary>The HCL expression for a smart, threat or built-in group's UUID.</summary>
    public string GroupUuid(string groupName) => groupName switch
    {
        PolicyDocument.Anywhere => AviatrixBuiltIns.AnywhereLocal,
        PolicyDocument.PublicInternet => AviatrixBuiltIns.PublicInternetLocal,
        _ => $"{SmartGroupType}.{Names.For(SmartGroupType, groupName)}.uuid",
    };

    /// <summary>
    /// The name of an object the module makes on the controller or in Azure: the instance name first, so that modules
    /// of several policies, VNets or regions never share an object (a template on <c>var.instance_name</c>).
    /// </summary>
    public static HclExpression ObjectName(string suffix) =>
        HclExpression.Raw("\"${var.instance_name}-" + HclExpression.Of(suffix).ToString()[1..^1] + "\"");

    /// <summary>True when some permit rule may decrypt: the controller's interception CA then matters.</summary>
    public bool Decrypts => Policy.Rules.Any(r => r.Rule.Action == RuleAction.Permit && r.Rule.Decrypt == DecryptPolicy.Allowed);

    /// <summary>The HCL address of the resource that holds the rules.</summary>
    public string RulesAddress => Options.Ruleset == RulesetKind.DcfRuleset
        ? $"aviatrix_dcf_ruleset.{PolicyResourceName}"
        : $"aviatrix_distributed_firewalling_policy_list.{PolicyResourceName}";

    public string WebGroupUuid(string webGroupName) => $"{WebGroupType}.{Names.For(WebGroupType, webGroupName)}.uuid";
}

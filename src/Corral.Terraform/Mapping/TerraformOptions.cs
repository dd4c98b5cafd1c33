namespace Corral.Terraform.Mapping;

/// <summary>How the spoke gateway joins the network: on its own, or attached to an existing Aviatrix transit.</summary>
public enum GatewayMode { Standalone, Transit }

/// <summary>Which Aviatrix resource carries the DCF rules.</summary>
public enum RulesetKind
{
    /// <summary><c>aviatrix_dcf_ruleset</c> attached at TERRAFORM_BEFORE_UI_MANAGED: coexists with rules managed in the UI.</summary>
    DcfRuleset,

    /// <summary><c>aviatrix_distributed_firewalling_policy_list</c>: the older resource, which owns the controller's whole list.</summary>
    PolicyList,
}

/// <summary>The choices <c>corral terraform</c> takes besides the policy.</summary>
public sealed record TerraformOptions
{
    public GatewayMode Gateway { get; init; } = GatewayMode.Standalone;

    /// <summary>The transit gateway to attach to in transit mode; null leaves it a required variable.</summary>
    public string? TransitGatewayName { get; init; }

    public RulesetKind Ruleset { get; init; } = RulesetKind.DcfRuleset;
}

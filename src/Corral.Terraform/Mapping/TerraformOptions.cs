namespace Corral.Terraform.Mapping;

/// <summary>How the spoke gateway joins the network: on its own, or attached to an existing Aviatrix transit.</summary>
public enum GatewayMode { Standalone, Transit }

/// <summary>
/// The Aviatrix controller's release line. The provider refuses a controller whose major.minor differs from its own, so
/// the module pins the provider to the line (<c>~&gt; 8.2.0</c> or <c>~&gt; 9.0.0</c>) and writes what that line wants.
/// </summary>
public enum ControllerRelease { V8_2, V9_0 }

/// <summary>Which Aviatrix resource carries the DCF rules.</summary>
public enum RulesetKind
{
    /// <summary><c>aviatrix_dcf_ruleset</c> attached at its own attachment point: coexists with other modules and with the UI's rules.</summary>
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

    /// <summary>The controller's release line; 9.0 by default (per-rule decryption needs 9.0).</summary>
    public ControllerRelease Controller { get; init; } = ControllerRelease.V9_0;
}

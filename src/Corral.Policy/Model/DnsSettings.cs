namespace Corral.Policy.Model;

/// <summary>
/// The gateway's DNS resolver for the agent subnet (the <c>dns:</c> section). Names that no rule could let a
/// connection through to are never resolved; <see cref="Mode"/> decides the names reachable only through rules that
/// permit by address alone (those the <c>resolves-every-name</c> lint names).
/// </summary>
/// <param name="Mode">
/// Watch: such names are resolved and the record says strict mode would refuse them. Enforce: they are refused.
/// </param>
public sealed record DnsSettings(RuleMode Mode)
{
    /// <summary>Watch: a policy without a <c>dns:</c> section keeps resolving what its address-only permits can reach.</summary>
    public static readonly DnsSettings Default = new(RuleMode.Watch);
}

namespace Corral.Policy.Compilation;

public sealed partial class CompiledPolicy
{
    /// <summary>PLACEHOLDER until the policy-core branch lands: always needs the addresses.</summary>
    public Verdict? DecideBeforeResolving(in Flow flow) => null;
}

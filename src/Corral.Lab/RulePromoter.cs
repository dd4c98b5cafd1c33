using Corral.Gateway.Decision;
using Corral.Policy;
using Corral.Policy.Compilation;
using Corral.Policy.Loading;
using Corral.Policy.Model;

namespace Corral.Lab;

/// <summary>
/// Changes one rule's mode in the running gateway, without a restart: scenario 10's promotion from watch to enforce.
/// The scenario only talks to this interface, so promoting through the admin API over HTTP is one more implementation.
/// </summary>
internal interface IRulePromoter
{
    /// <summary>How a promotion is carried out, for the report's notes.</summary>
    string Description { get; }

    Task SetModeAsync(string rule, RuleMode mode, CancellationToken ct);
}

/// <summary>Edits the rule's mode in the policy file, checks the file, and swaps the compiled policy into the gateway.</summary>
internal sealed class PolicySwapPromoter(string policyPath, CompileOptions options, PolicySource target) : IRulePromoter
{
    public string Description => "watch -> enforce promotion edits the policy file and swaps the recompiled policy into the running gateway (no restart)";

    public Task SetModeAsync(string rule, RuleMode mode, CancellationToken ct)
    {
        var text = File.ReadAllText(policyPath);
        var (edited, error) = PolicyEditor.SetRuleMode(policyPath, text, rule, mode);
        if (error is not null) throw new InvalidOperationException(error);
        File.WriteAllText(policyPath, edited);
        var check = PolicyChecker.CheckFile(policyPath, options: options);
        if (!check.Succeeded) throw new InvalidOperationException("the edited policy does not check: " + string.Join("; ", check.Diagnostics.Where(d => d.IsError)));
        target.Swap(check.Compiled!);
        return Task.CompletedTask;
    }
}

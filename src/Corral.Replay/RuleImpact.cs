using System.Text;
using Corral.Policy;
using Corral.Policy.Compilation;
using Corral.Policy.Editing;
using Corral.Policy.Model;

namespace Corral.Replay;

/// <summary>What enforcing one rule would change: the policy in force with that rule enforced, for <see cref="Replayer"/>.</summary>
public static class RuleImpact
{
    /// <summary>
    /// The policy in force with <paramref name="ruleName"/> enforced, as promoting it would make it: derived without a
    /// compile when the policy file still holds the text in force, else compiled from the file with the mode set.
    /// Returns null with an error when the rule does not exist or the file cannot be edited or compiled.
    /// </summary>
    public static (CompiledPolicy? Policy, string? Error) Enforced(CompiledPolicy current, string policyPath, string ruleName, CompileOptions options)
    {
        if (current.FindRule(ruleName) is null) return (null, $"no rule named '{ruleName}'");
        byte[] bytes;
        try { bytes = File.ReadAllBytes(policyPath); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return (null, $"cannot read {policyPath}: {e.Message}"); }
        var text = Encoding.UTF8.GetString(bytes);
        var (edited, error) = PolicyEditor.SetRuleMode(policyPath, text, ruleName, RuleMode.Enforce);
        if (edited is null) return (null, error);
        if (RuleModeEditor.WithRuleMode(current, ruleName, RuleMode.Enforce, bytes, Encoding.UTF8.GetBytes(edited)) is { } derived) return (derived, null);
        var compiled = PolicyChecker.CheckText(policyPath, edited, Path.GetDirectoryName(Path.GetFullPath(policyPath))!, options: options);
        return compiled.Succeeded ? (compiled.Compiled, null) : (null, $"{policyPath} with '{ruleName}' enforced does not compile");
    }
}

using Corral.Terraform.Hcl;

namespace Corral.Terraform.Mapping;

/// <summary>
/// A group's entries as <c>match_expressions</c> blocks of one attribute each (blocks are ORed). Up to
/// <see cref="InlineLimit"/> entries each gets its own block, easy to review; beyond that one <c>dynamic</c> block walks a
/// one-entry-a-line list, the same expressions at a third of the size, so a large feed or allowlist stays a module
/// Terraform reads in seconds.
/// </summary>
public static class MatchExpressions
{
    public const int InlineLimit = 1_000;

    public static void Write(HclBody selector, string attribute, IReadOnlyList<string> values)
    {
        if (values.Count <= InlineLimit)
        {
            foreach (var value in values) selector.Block("match_expressions", m => m.Attribute(attribute, value));
            return;
        }
        selector.Block("dynamic", ["match_expressions"], d => d
            .Attribute("for_each", HclExpression.StringLines(values))
            .Block("content", c => c.Expression(attribute, "match_expressions.value")));
    }
}

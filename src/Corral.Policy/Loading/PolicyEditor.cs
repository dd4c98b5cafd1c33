using System.Text;
using Corral.Policy.Diagnostics;
using Corral.Policy.Model;

namespace Corral.Policy.Loading;

/// <summary>
/// Small edits to a policy file's text that keep everything else as written (comments, order, layout), so a change
/// made at run time — promoting a rule from watch to enforce — can be written back and the file stays the source of truth.
/// </summary>
public static class PolicyEditor
{
    /// <summary>Sets one rule's <c>mode</c>. Returns the new text (the same text when nothing changes), or an error.</summary>
    public static (string? Text, string? Error) SetRuleMode(string displayPath, string text, string ruleName, RuleMode mode)
    {
        var diagnostics = new DiagnosticBag();
        var bom = text.Length > 0 && text[0] == '\uFEFF' ? 1 : 0;
        var root = YamlTree.Read(displayPath, Encoding.UTF8.GetBytes(text), diagnostics);
        if (diagnostics.HasErrors || root is not YMapping top) return (null, $"{displayPath} does not parse as a policy");
        var rules = top.Entries.FirstOrDefault(e => e.Key.Value == "rules").Value as YSequence;
        var rule = rules?.Items.OfType<YMapping>().FirstOrDefault(r => Value(r, "name") is YScalar { Value: var n } && n == ruleName);
        if (rule is null) return (null, $"{displayPath} has no rule named '{ruleName}'");
        var word = mode == RuleMode.Watch ? "watch" : "enforce";

        if (Value(rule, "mode") is YScalar existing)
            return (Splice(text, bom + existing.StartIndex, bom + existing.EndIndex, word), null);
        if (mode == RuleMode.Enforce) return (text, null); // enforce is the default
        var name = (YScalar)Value(rule, "name")!;
        var nameKey = rule.Entries.First(e => e.Key.Value == "name").Key;
        var insertion = rule.IsFlow
            ? $", mode: {word}"
            : $"\n{new string(' ', nameKey.Location.Column - 1)}mode: {word}";
        return (Splice(text, bom + name.EndIndex, bom + name.EndIndex, insertion), null);
    }

    private static YNode? Value(YMapping map, string key) => map.Entries.FirstOrDefault(e => e.Key.Value == key).Value;

    private static string Splice(string text, int start, int end, string replacement) =>
        string.Concat(text.AsSpan(0, start), replacement, text.AsSpan(end));
}

using Corral.Policy.Diagnostics;
using Corral.Policy.Editing;
using Corral.Policy.Model;

namespace Corral.Policy.Loading.Sections;

/// <summary>
/// Reads the <c>rules</c> list: each rule through <see cref="RuleReader"/>, then what holds across rules (names and
/// priorities unique), and records where each rule's mode is written for the editor.
/// </summary>
internal sealed class RulesSectionReader(NodeReader nodes, RuleModeSites.Builder modeSites)
{
    private readonly RuleReader _rule = new(nodes);

    public List<Rule> Read(YNode? node, YMapping top)
    {
        var rules = new List<Rule>();
        if (node is null)
        {
            nodes.Error("missing-key", top, "missing 'rules'", "a policy needs at least one rule; see 'corral init'");
            return rules;
        }
        if (node is not YSequence seq)
        {
            nodes.Error("bad-type", node, "'rules' is a list of rules");
            return rules;
        }
        var names = new Dictionary<string, SourceLocation>(StringComparer.Ordinal);
        var priorities = new Dictionary<int, (string Name, SourceLocation At)>();
        foreach (var item in seq.Items)
        {
            if (item is not YMapping body)
            {
                nodes.Error("bad-type", item, "each rule is a mapping", "{ name: …, priority: …, action: permit|deny, … }");
                continue;
            }
            if (_rule.Read(body) is not { } rule) continue;
            modeSites.Add(rule.Name, body);
            if (names.TryGetValue(rule.Name, out var firstName))
                nodes.Error("duplicate-rule", rule.LocationOf("name"), $"rule name '{rule.Name}' is used twice", $"first at {firstName}");
            else names[rule.Name] = rule.LocationOf("name");
            var priorityUsable = rule.FieldLocations.ContainsKey("priority") &&
                                 !nodes.Diagnostics.Items.Any(d => d.Code == "bad-priority" && d.Location == rule.LocationOf("priority"));
            if (!priorityUsable) { } // already reported; a second error about priority 0 would only confuse
            else if (priorities.TryGetValue(rule.Priority, out var other))
                nodes.Error("duplicate-priority", rule.LocationOf("priority"), $"priority {rule.Priority} is also rule '{other.Name}''s",
                    $"at {other.At}; priorities decide the order, so each must be unique");
            else priorities[rule.Priority] = (rule.Name, rule.LocationOf("priority"));
            rules.Add(rule);
        }
        return rules;
    }
}

using Corral.Policy.Model;

namespace Corral.Policy.Loading.Sections;

/// <summary>
/// Checks, once every section is read, that the groups rules name exist and are of the kind the field takes (with a
/// "did you mean" for a misspelt name), and that URL filters are used only where the gateway can see paths.
/// </summary>
internal sealed class ReferenceValidator(NodeReader nodes, GroupNames groups)
{
    public void Check(List<Rule> rules, List<WebGroup> webGroups)
    {
        foreach (var rule in rules)
        {
            foreach (var s in rule.Source) CheckAddressGroup(s, "source", sourceOnly: true);
            foreach (var d in rule.Destination) CheckAddressGroup(d, "destination", sourceOnly: false);
            foreach (var w in rule.WebGroups) CheckWebGroup(w);
        }
        CheckUrlFiltersCanBeSeen(rules, webGroups);
    }

    private void CheckAddressGroup(Located<string> reference, string field, bool sourceOnly)
    {
        var name = reference.Value;
        if (PolicyDocument.BuiltInGroups.Contains(name)) return;
        if (groups.TryGetAddressGroup(name, out var group))
        {
            if (sourceOnly && group.Kind == GroupSection.Threat.Kind)
                nodes.Error("wrong-group-kind", reference.Location, $"'{name}' is a threat group; sources are smart groups and agents", "threat groups belong in 'destination'");
            if (!sourceOnly && group.Kind == GroupSection.Agents.Kind)
                nodes.Error("wrong-group-kind", reference.Location, $"'{name}' is an agent; an agent is a source, not a {field}", "move it to 'source'");
            return;
        }
        if (groups.IsWebGroup(name))
        {
            nodes.Error("wrong-group-kind", reference.Location, $"'{name}' is a web group, not a {field} group", "move it to 'webGroups'");
            return;
        }
        nodes.Error("unknown-group", reference.Location, $"unknown group '{name}' in {field}",
            nodes.Hint(name, groups.AddressGroupNames.Concat(PolicyDocument.BuiltInGroups)) ?? "define it under smartGroups, threatGroups or agents");
    }

    private void CheckWebGroup(Located<string> reference)
    {
        var name = reference.Value;
        if (groups.IsWebGroup(name)) return;
        if (groups.TryGetAddressGroup(name, out var group) || PolicyDocument.BuiltInGroups.Contains(name))
            nodes.Error("wrong-group-kind", reference.Location, $"'{name}' is {GroupSection.WithArticle(group.Kind ?? "built-in group")}, not a web group", "move it to 'destination'");
        else
            nodes.Error("unknown-group", reference.Location, $"unknown web group '{name}'", nodes.Hint(name, groups.WebGroupNames));
    }

    // URL filters see paths only inside decrypted TLS, so a rule using them must be a permit that may decrypt.
    private void CheckUrlFiltersCanBeSeen(List<Rule> rules, List<WebGroup> webGroups)
    {
        var withUrls = webGroups.Where(w => w.Urls.Count > 0).Select(w => w.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var rule in rules)
        foreach (var reference in rule.WebGroups.Where(w => withUrls.Contains(w.Value)))
        {
            if (rule.Action == RuleAction.Deny)
                nodes.Error("url-filter-needs-decrypt", reference.Location,
                    $"web group '{reference.Value}' has URL filters, but rule '{rule.Name}' denies and so cannot decrypt to see paths",
                    "deny by domain in a web group without 'urls', or permit the URLs you want in a decrypting rule");
            else if (rule.Decrypt != DecryptPolicy.Allowed)
                nodes.Error("url-filter-needs-decrypt", reference.Location,
                    $"web group '{reference.Value}' has URL filters, but rule '{rule.Name}' does not decrypt",
                    "add 'decrypt: allowed' to the rule, or move the URLs to a group used by a decrypting rule");
        }
    }
}

using Corral.Policy.Inspection;
using Corral.Policy.Model;

namespace Corral.Policy.Loading.Sections;

/// <summary>Reads the <c>inspection</c> section: which built-in secret patterns run, the policy's own, and whether the Authorization header is scanned.</summary>
internal sealed class InspectionSectionReader(NodeReader nodes)
{
    private static readonly string[] Keys = ["patterns", "custom", "scanAuthorizationHeader"];
    private static readonly string[] CustomPatternKeys = ["name", "regex"];

    public InspectionSettings Read(YNode? node)
    {
        if (nodes.Section(node, "inspection", Keys, "inspection: { patterns: [private-key, jwt], custom: [{ name: x, regex: '...' }] }") is not { } map)
            return InspectionSettings.Default;
        var builtIns = NodeReader.Get(map, "patterns") is { } patternsNode ? ReadBuiltIns(patternsNode) : BuiltInPatterns.Names;
        var custom = new List<SecretPattern>();
        foreach (var item in nodes.List(NodeReader.Get(map, "custom"), "custom"))
            if (ReadCustom(item, custom) is { } pattern) custom.Add(pattern);
        var scanAuthorization = NodeReader.Get(map, "scanAuthorizationHeader") is { } sa && (nodes.Bool(sa, "scanAuthorizationHeader") ?? false);
        return new InspectionSettings(builtIns, custom, scanAuthorization);
    }

    private List<string> ReadBuiltIns(YNode patternsNode)
    {
        var chosen = new List<string>();
        foreach (var item in nodes.List(patternsNode, "patterns"))
        {
            if (nodes.String(item, "a pattern name") is not { } patternName) continue;
            if (BuiltInPatterns.All.ContainsKey(patternName)) chosen.Add(patternName);
            else nodes.Error("unknown-pattern", item, $"unknown built-in pattern '{patternName}'",
                nodes.Hint(patternName, BuiltInPatterns.Names) ?? $"built-ins: {string.Join(", ", BuiltInPatterns.Names)}; add your own under 'custom'");
        }
        return chosen.Distinct().ToList();
    }

    /// <param name="earlier">The custom patterns read before this one: names are unique.</param>
    private SecretPattern? ReadCustom(YNode item, List<SecretPattern> earlier)
    {
        if (item is not YMapping entry)
        {
            nodes.Error("bad-type", item, "a custom pattern is { name: ..., regex: ... }");
            return null;
        }
        nodes.CheckKeys(entry, CustomPatternKeys, "a custom pattern");
        var patternName = NodeReader.Get(entry, "name") is { } n ? nodes.String(n, "name") : null;
        var regex = NodeReader.Get(entry, "regex") is { } r ? nodes.String(r, "regex") : null;
        if (patternName is null || regex is null)
        {
            nodes.Error("missing-key", entry, "a custom pattern needs 'name' and 'regex'");
            return null;
        }
        if (BuiltInPatterns.All.ContainsKey(patternName) || earlier.Any(c => c.Name == patternName))
            nodes.Error("duplicate-pattern", NodeReader.Get(entry, "name")!, $"pattern name '{patternName}' is already used");
        else if (PayloadInspector.ValidatePattern(regex) is { } problem)
            nodes.Error("bad-regex", NodeReader.Get(entry, "regex")!, $"pattern '{patternName}' is not a usable regular expression: {problem}",
                "patterns run without backtracking: no lookarounds or backreferences");
        else return new SecretPattern(patternName, regex, entry.Location);
        return null;
    }
}

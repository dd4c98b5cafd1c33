using Corral.Policy.Diagnostics;

namespace Corral.Policy.Loading.Sections;

/// <summary>One of the three group sections: its key, what one of its groups is called, and an example body.</summary>
internal sealed record GroupSection(string Key, string Kind, string Example)
{
    public static readonly GroupSection Smart = new("smartGroups", "smart group", "for example { cidrs: [10.20.1.0/24] }");
    public static readonly GroupSection Web = new("webGroups", "web group", "for example { domains: [api.example.com] }");
    public static readonly GroupSection Threat = new("threatGroups", "threat group", "for example { feeds: [feeds/threat-ips.txt] }");
    /// <summary>"a smart group", "an agent": a kind as a message names it.</summary>
    public static string WithArticle(string kind) => (kind[0] is 'a' or 'e' or 'i' or 'o' or 'u' ? "an " : "a ") + kind;

    public static readonly GroupSection Agents = new("agents", "agent", "for example { token-sha256: <64 hex digits from 'corral agent token NAME'>, cidrs: [10.20.1.0/24] }");
}

/// <summary>
/// The group names a policy defines, with their kind and place: unique across the three sections, and what the
/// reference validator checks rules against. Address groups (smart and threat groups, and agents, which rules name as
/// sources) and web groups are kept apart because rules name them in different fields.
/// </summary>
internal sealed class GroupNames
{
    private readonly Dictionary<string, (string Kind, SourceLocation At)> _addressGroups = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (string Kind, SourceLocation At)> _webGroups = new(StringComparer.Ordinal);

    /// <summary>Names the group, or returns the group already defined under that name.</summary>
    public bool TryDefine(GroupSection section, YScalar key, out (string Kind, SourceLocation At) existing)
    {
        var own = section == GroupSection.Web ? _webGroups : _addressGroups;
        var other = section == GroupSection.Web ? _addressGroups : _webGroups;
        if (own.TryGetValue(key.Value, out existing) || other.TryGetValue(key.Value, out existing)) return false;
        own[key.Value] = (section.Kind, key.Location);
        return true;
    }

    /// <summary>A smart or threat group or an agent: what a rule's source and destination name.</summary>
    public bool TryGetAddressGroup(string name, out (string Kind, SourceLocation At) group) => _addressGroups.TryGetValue(name, out group);

    public bool IsWebGroup(string name) => _webGroups.ContainsKey(name);

    /// <summary>In the order defined: the candidates of a "did you mean".</summary>
    public IEnumerable<string> AddressGroupNames => _addressGroups.Keys;

    public IEnumerable<string> WebGroupNames => _webGroups.Keys;
}

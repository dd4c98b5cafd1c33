using Corral.Policy.Model;

namespace Corral.Policy.Loading.Sections;

/// <summary>
/// Reads one group section (a mapping of group name to body): checks each name (its form, not built in, unique across
/// the sections) and hands each body to the reader of that kind of group.
/// </summary>
internal static class GroupSectionReader
{
    public static List<T> Read<T>(NodeReader nodes, GroupNames names, YNode? node, GroupSection section, Func<string, YMapping, T?> read) where T : class
    {
        var result = new List<T>();
        if (node is null || node is YScalar { IsNull: true }) return result;
        if (node is not YMapping map)
        {
            nodes.Error("bad-type", node, $"'{section.Key}' is a mapping of group name to definition");
            return result;
        }
        foreach (var (key, value) in map.Entries)
        {
            var name = key.Value;
            if (!PolicyName.IsValid(name))
            {
                nodes.Error("bad-name", key, $"group name '{name}' must be letters, digits, '.', '_' or '-' (at most 128)");
                continue;
            }
            if (PolicyDocument.BuiltInGroups.Contains(name))
            {
                nodes.Error("reserved-name", key, $"'{name}' is a built-in group and cannot be redefined");
                continue;
            }
            if (!names.TryDefine(section, key, out var existing))
            {
                nodes.Error("duplicate-group", key, $"group '{name}' is already defined as {GroupSection.WithArticle(existing.Kind)}", $"at {existing.At}; group names are unique across smartGroups, webGroups, threatGroups and agents");
                continue;
            }
            if (value is not YMapping body)
            {
                nodes.Error("bad-type", value, $"group '{name}' needs a mapping", section.Example);
                continue;
            }
            if (read(name, body) is { } group) result.Add(group);
        }
        return result;
    }
}

using System.Text;

namespace Corral.Terraform.Mapping;

/// <summary>
/// Terraform resource names derived from policy names: lower case, letters, digits and underscores, never starting
/// with a digit, unique within one resource type (a clash gets _2, _3 … in policy order, so output stays stable).
/// </summary>
public sealed class ResourceNames
{
    private readonly Dictionary<(string Type, string PolicyName), string> _assigned = [];
    private readonly HashSet<(string Type, string Name)> _taken = [];

    /// <summary>The resource name for <paramref name="policyName"/> among resources of <paramref name="type"/>; the same input gives the same name.</summary>
    public string For(string type, string policyName)
    {
        if (_assigned.TryGetValue((type, policyName), out var existing)) return existing;
        var baseName = Sanitize(policyName);
        var name = baseName;
        for (var n = 2; !_taken.Add((type, name)); n++) name = $"{baseName}_{n}";
        _assigned[(type, policyName)] = name;
        return name;
    }

    /// <summary>A valid Terraform identifier that reads like <paramref name="name"/>.</summary>
    public static string Sanitize(string name)
    {
        var sb = new StringBuilder(name.Length + 2);
        foreach (var c in name.ToLowerInvariant())
        {
            var ok = c is >= 'a' and <= 'z' or >= '0' and <= '9' or '_';
            if (ok) sb.Append(c);
            else if (sb.Length > 0 && sb[^1] != '_') sb.Append('_');
        }
        var s = sb.ToString().Trim('_');
        if (s.Length == 0) s = "group";
        return char.IsAsciiDigit(s[0]) ? "g_" + s : s;
    }
}

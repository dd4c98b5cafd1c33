using System.Text.RegularExpressions;

namespace Corral.Policy.Loading.Sections;

/// <summary>The form of a group's or a rule's name: letters, digits, '.', '_' or '-', at most 128, not starting with a symbol.</summary>
internal static partial class PolicyName
{
    public static bool IsValid(string name) => Pattern().IsMatch(name);

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]
    private static partial Regex Pattern();
}

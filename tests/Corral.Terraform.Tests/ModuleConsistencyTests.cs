using System.Text.RegularExpressions;
using Corral.Testing;

namespace Corral.Terraform.Tests;

/// <summary>What `terraform validate` would also say about a module: every variable declared is used, and every one used is declared.</summary>
public sealed partial class ModuleConsistencyTests
{
    [GeneratedRegex("""variable "([a-z0-9_]+)" \{""")]
    private static partial Regex Declaration();

    [GeneratedRegex(@"\bvar\.([a-z0-9_]+)")]
    private static partial Regex Use();

    [Theory, MemberData(nameof(GeneratedModules.All), MemberType = typeof(GeneratedModules))]
    public void Every_variable_is_declared_once_and_used(string variant)
    {
        using var dir = new TempFolder("corral-tf-");
        var module = GeneratedModules.Export(variant, dir);
        var tf = module.Files.Where(f => f.Key.EndsWith(".tf", StringComparison.Ordinal)).Select(f => f.Value).ToList();
        var declared = tf.SelectMany(t => Declaration().Matches(t)).Select(m => m.Groups[1].Value).ToList();
        var used = tf.SelectMany(t => Use().Matches(t)).Select(m => m.Groups[1].Value).ToHashSet(StringComparer.Ordinal);
        Assert.Equal(declared.Count, declared.Distinct().Count());
        var unused = declared.Where(d => !used.Contains(d)).ToList();
        var undeclared = used.Where(u => !declared.Contains(u)).ToList();
        Assert.True(unused.Count == 0, "declared but never used: " + string.Join(", ", unused));
        Assert.True(undeclared.Count == 0, "used but never declared: " + string.Join(", ", undeclared));
    }
}

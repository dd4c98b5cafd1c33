using System.Text.RegularExpressions;
using Corral.Policy.Linting;
using Corral.Testing;

namespace Corral.Policy.Tests;

/// <summary>
/// Every warning the policy core can give has its long form in the catalog (<c>corral explain --lint CODE</c>) and a
/// row in docs/policy.md's Lints table, so a one-sentence warning always has somewhere to send the reader.
/// </summary>
public sealed partial class LintCatalogTests
{
    [Fact]
    public void Every_warning_code_in_the_policy_core_is_explained_and_listed_in_the_docs()
    {
        // The codes as the source writes them: diagnostics.Warning("code", …), nodes.Warning("code", …), new Diagnostic(Severity.Warning, "code", …).
        var sources = Directory.EnumerateFiles(Path.Combine(Repository.Root, "src", "Corral.Policy"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal));
        var codes = sources.SelectMany(f => WarningCode().Matches(File.ReadAllText(f)).Select(m => m.Groups["code"].Value)).ToHashSet();
        Assert.Contains("resolves-every-name", codes);
        Assert.Contains("service-tags-unresolved", codes);

        var docs = File.ReadAllText(Path.Combine(Repository.Root, "docs", "policy.md"));
        Assert.All(codes, code =>
        {
            Assert.True(LintCatalog.Find(code) is not null, $"warning '{code}' has no explanation in LintCatalog (corral explain --lint {code})");
            Assert.Contains($"| {code} |", docs);
        });
        Assert.Equal(codes.Order(), LintCatalog.All.Select(l => l.Code).Order());
        Assert.All(LintCatalog.All, l => Assert.All(new[] { l.Finds, l.Why, l.WhatToDo }, text => Assert.False(string.IsNullOrWhiteSpace(text))));
    }

    [GeneratedRegex(@"(?:\.Warning\(|Severity\.Warning,\s*)""(?<code>[a-z-]+)""")]
    private static partial Regex WarningCode();
}

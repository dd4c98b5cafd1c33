using Corral.Policy;
using Corral.Policy.Compilation;
using Corral.Policy.Templates;

namespace Corral.Testing;

/// <summary>The reference Foundry pack as `corral init --template azure-foundry` writes it, as corral.yaml in a folder.</summary>
public static class FoundryPack
{
    public static string Write(TempFolder dir, AzureFoundryOptions? options = null)
    {
        var path = dir.Write("corral.yaml", AzureFoundryTemplate.Render(options ?? new AzureFoundryOptions()));
        foreach (var feed in AzureFoundryTemplate.ThreatFeedFiles)
            dir.Write(feed, AzureFoundryTemplate.FeedFileText(feed.Contains("domains") ? "domains" : "addresses"));
        return path;
    }

    public static CompiledPolicy Compile(string path)
    {
        var result = PolicyChecker.CheckFile(path);
        Assert.True(result.Succeeded, string.Join("\n", result.Diagnostics));
        return result.Compiled!;
    }
}

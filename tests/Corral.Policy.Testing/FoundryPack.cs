using Corral.Policy;
using Corral.Policy.Compilation;
using Corral.Policy.Templates;

namespace Corral.Testing;

/// <summary>The reference Foundry pack as `corral init --template azure-foundry` writes it: the policy and its feed files, in a folder.</summary>
public static class FoundryPack
{
    /// <summary>Writes the pack as corral.yaml in <paramref name="dir"/> and returns the policy's path.</summary>
    public static string Write(TempFolder dir, AzureFoundryOptions? options = null) => WriteTo(dir.Path, "corral.yaml", options);

    /// <summary>Writes the pack as <paramref name="fileName"/> in <paramref name="folder"/>, the feed files beside it, and returns the policy's path.</summary>
    public static string WriteTo(string folder, string fileName, AzureFoundryOptions? options = null)
    {
        var path = Path.Combine(folder, fileName);
        File.WriteAllText(path, AzureFoundryTemplate.Render(options ?? new AzureFoundryOptions()));
        foreach (var feed in AzureFoundryTemplate.ThreatFeedFiles)
        {
            var feedPath = Path.Combine(folder, feed);
            Directory.CreateDirectory(Path.GetDirectoryName(feedPath)!);
            File.WriteAllText(feedPath, AzureFoundryTemplate.FeedFileText(feed.Contains("domains") ? "domains" : "addresses"));
        }
        return path;
    }

    public static CompiledPolicy Compile(string path)
    {
        var result = PolicyChecker.CheckFile(path);
        Assert.True(result.Succeeded, string.Join("\n", result.Diagnostics));
        return result.Compiled!;
    }
}

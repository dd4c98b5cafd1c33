using System.Text.Json;

namespace Corral.Testing;

/// <summary>
/// Parses .tf files with HashiCorp's HCL parser (@cdktf/hcl2json under tools/hcl, installed by
/// scripts/install-test-deps.sh) and returns the HCL-JSON of each file.
/// </summary>
public static class HclParser
{
    private static readonly string ToolDir = Path.Combine(Repository.Root, "tools", "hcl");

    public static JsonElement ParseFolder(string folder)
    {
        if (!File.Exists(Path.Combine(ToolDir, "node_modules", "@cdktf", "hcl2json", "package.json")))
            Assert.Fail($"The HCL parser is not installed in {ToolDir}/node_modules: run `bash scripts/install-test-deps.sh` (needs Node.js and npm).");
        var (code, stdout, stderr) = ProcessRunner.Run("node", [Path.Combine(ToolDir, "parse.js"), folder], new RunOptions { Timeout = TimeSpan.FromMinutes(2) });
        Assert.True(code == 0, $"HCL parse failed: {stderr}");
        return JsonDocument.Parse(stdout).RootElement.Clone();
    }
}

using System.Diagnostics;
using System.Text.Json;
using Corral.Policy;
using Corral.Policy.Compilation;
using Corral.Policy.Templates;

namespace Corral.Terraform.Tests;

/// <summary>Where the repository is, found from the test's own folder (the folder that holds Corral.slnx).</summary>
internal static class Repo
{
    public static string Root { get; } = Find();

    public static string GoldenDir(string mode) => Path.Combine(Root, "tests", "Corral.Terraform.Tests", "golden", mode);

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Corral.slnx"))) return dir.FullName;
        throw new InvalidOperationException("cannot find the repository root (Corral.slnx) above " + AppContext.BaseDirectory);
    }
}

/// <summary>A scratch folder deleted after the test.</summary>
internal sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("corral-tf-").FullName;

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>The reference Foundry pack as `corral init --template azure-foundry` writes it, as corral.yaml in a folder.</summary>
internal static class FoundryPack
{
    public static string Write(TempDir dir, AzureFoundryOptions? options = null)
    {
        var path = dir.File("corral.yaml");
        System.IO.File.WriteAllText(path, AzureFoundryTemplate.Render(options ?? new AzureFoundryOptions()));
        foreach (var feed in AzureFoundryTemplate.ThreatFeedFiles)
        {
            var full = dir.File(feed);
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
            System.IO.File.WriteAllText(full, AzureFoundryTemplate.FeedFileText(feed.Contains("domains") ? "domains" : "addresses"));
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

/// <summary>
/// Parses .tf files with HashiCorp's HCL parser (@cdktf/hcl2json under tools/hcl, installed by
/// scripts/install-test-deps.sh) and returns the HCL-JSON of each file.
/// </summary>
internal static class HclParser
{
    private static readonly string ToolDir = Path.Combine(Repo.Root, "tools", "hcl");

    public static JsonElement ParseFolder(string folder)
    {
        if (!File.Exists(Path.Combine(ToolDir, "node_modules", "@cdktf", "hcl2json", "package.json")))
            Assert.Fail($"The HCL parser is not installed in {ToolDir}/node_modules: run `bash scripts/install-test-deps.sh` (needs Node.js and npm).");
        var start = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(ToolDir, "parse.js"));
        start.ArgumentList.Add(folder);
        using var process = Process.Start(start) ?? throw new InvalidOperationException("cannot start node");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(120_000)) { process.Kill(true); Assert.Fail("the HCL parser did not finish in 2 minutes"); }
        Assert.True(process.ExitCode == 0, $"HCL parse failed: {stderr.Result}");
        return JsonDocument.Parse(stdout.Result).RootElement.Clone();
    }
}

/// <summary>Runs the built `corral` command (corral.dll next to the tests) as its own process.</summary>
internal static class CorralProcess
{
    public static (int ExitCode, string Stdout, string Stderr) Run(string workingDirectory, params string[] args)
    {
        var corral = typeof(Corral.Cli.CorralCommand).Assembly.Location;
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
        var start = new ProcessStartInfo(dotnet) { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(corral);
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start) ?? throw new InvalidOperationException("cannot start corral");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(120_000)) { process.Kill(true); Assert.Fail("corral did not finish in 2 minutes"); }
        return (process.ExitCode, stdout.Result, stderr.Result);
    }
}

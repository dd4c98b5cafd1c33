using System.Diagnostics;

namespace Corral.Terraform.Tests;

/// <summary>The `terraform` executable on PATH, when there is one.</summary>
internal static class TerraformCli
{
    public static string? Path { get; } = Find();

    private static string? Find()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(System.IO.Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = System.IO.Path.Combine(dir, OperatingSystem.IsWindows() ? "terraform.exe" : "terraform");
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    public static (int ExitCode, string Output) Run(string workingDirectory, params string[] args)
    {
        var start = new ProcessStartInfo(Path!) { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment["TF_IN_AUTOMATION"] = "1";
        start.Environment["CHECKPOINT_DISABLE"] = "1"; // no version check over the network
        using var process = Process.Start(start) ?? throw new InvalidOperationException("cannot start terraform");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(120_000)) { process.Kill(true); Assert.Fail("terraform did not finish in 2 minutes"); }
        return (process.ExitCode, stdout.Result + stderr.Result);
    }
}

/// <summary>Every generated module is already in `terraform fmt` form, so a user's own fmt check never rewrites it.</summary>
public sealed class TerraformFmtTests
{
    [Theory, MemberData(nameof(GeneratedModules.All), MemberType = typeof(GeneratedModules))]
    public void GeneratedModuleIsTerraformFmtClean(string variant)
    {
        Assert.SkipWhen(TerraformCli.Path is null, "terraform is not on PATH; `terraform fmt -check` cannot run here");
        using var dir = new TempDir();
        var module = GeneratedModules.Write(variant, dir);
        var (code, output) = TerraformCli.Run(module, "fmt", "-check", "-recursive", "-diff", "-no-color", ".");
        Assert.True(code == 0, $"terraform fmt -check failed on the {variant} module:\n{output}");
    }

    [Theory]
    [InlineData("resource \"a\" \"b\" {\n  x = 1\n  long_name = 2\n}\n")]
    public void TheCheckCatchesUnformattedFiles(string unformatted)
    {
        Assert.SkipWhen(TerraformCli.Path is null, "terraform is not on PATH; `terraform fmt -check` cannot run here");
        using var dir = new TempDir();
        File.WriteAllText(dir.File("main.tf"), unformatted);
        Assert.NotEqual(0, TerraformCli.Run(dir.Path, "fmt", "-check", "-recursive", ".").ExitCode);
    }
}

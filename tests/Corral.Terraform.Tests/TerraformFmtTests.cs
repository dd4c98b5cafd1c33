using Corral.Testing;

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
        var result = ProcessRunner.Run(Path!, args, new RunOptions
        {
            WorkingDirectory = workingDirectory,
            Timeout = TimeSpan.FromMinutes(2),
            Environment = new Dictionary<string, string> { ["TF_IN_AUTOMATION"] = "1", ["CHECKPOINT_DISABLE"] = "1" }, // no version check over the network
        });
        return (result.ExitCode, result.Output);
    }
}

/// <summary>Every generated module is already in `terraform fmt` form, so a user's own fmt check never rewrites it.</summary>
public sealed class TerraformFmtTests
{
    [Theory, MemberData(nameof(GeneratedModules.All), MemberType = typeof(GeneratedModules))]
    public void Generated_module_is_terraform_fmt_clean(string variant)
    {
        Assert.SkipWhen(TerraformCli.Path is null, "terraform is not on PATH; `terraform fmt -check` cannot run here");
        using var dir = new TempFolder("corral-tf-");
        var module = GeneratedModules.Write(variant, dir);
        var (code, output) = TerraformCli.Run(module, "fmt", "-check", "-recursive", "-diff", "-no-color", ".");
        Assert.True(code == 0, $"terraform fmt -check failed on the {variant} module:\n{output}");
    }

    [Theory]
    [InlineData("resource \"a\" \"b\" {\n  x = 1\n  long_name = 2\n}\n")]
    public void The_check_catches_unformatted_files(string unformatted)
    {
        Assert.SkipWhen(TerraformCli.Path is null, "terraform is not on PATH; `terraform fmt -check` cannot run here");
        using var dir = new TempFolder("corral-tf-");
        File.WriteAllText(dir.File("main.tf"), unformatted);
        Assert.NotEqual(0, TerraformCli.Run(dir.Path, "fmt", "-check", "-recursive", ".").ExitCode);
    }
}

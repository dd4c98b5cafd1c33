using Corral.Testing;

namespace Corral.Cli.Tests;

/// <summary>
/// scripts/corral as a new user first meets it: the first call builds, which takes a while, so it says so on stderr
/// (never stdout, which belongs to the command); a call with nothing to build says nothing. Run on a copy of the
/// script in a folder laid out as the repository, whose src/Corral.Cli is a one-line program, so the build is short.
/// </summary>
public sealed class ScriptsCorralTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task The_first_call_says_on_stderr_that_it_builds_and_how_long_that_takes_and_later_calls_are_quiet()
    {
        Assert.SkipUnless(ProcessRunner.IsInstalled("bash") && ProcessRunner.IsInstalled("flock"), "bash and flock run scripts/corral");
        var scripts = Directory.CreateDirectory(Path.Combine(_temp.Path, "scripts")).FullName;
        File.Copy(Path.Combine(Repository.Root, "scripts", "corral"), Path.Combine(scripts, "corral"));
        var project = Directory.CreateDirectory(Path.Combine(_temp.Path, "src", "Corral.Cli")).FullName;
        await File.WriteAllTextAsync(Path.Combine(project, "Corral.Cli.csproj"),
            "<Project Sdk=\"Microsoft.NET.Sdk\"><PropertyGroup><OutputType>Exe</OutputType><TargetFramework>net10.0</TargetFramework>" +
            "<AssemblyName>corral</AssemblyName><ImplicitUsings>enable</ImplicitUsings></PropertyGroup></Project>");
        await File.WriteAllTextAsync(Path.Combine(project, "Program.cs"), "Console.WriteLine(\"corral ran: \" + string.Join(' ', args));\n");

        async Task<ProcessResult> RunScript() => await ProcessRunner.RunAsync("bash", [Path.Combine(scripts, "corral"), "check", "x.yaml"],
            new RunOptions { WorkingDirectory = _temp.Path, Timeout = TimeSpan.FromMinutes(10) });

        var first = await RunScript();
        Assert.True(first.ExitCode == 0, first.Output);
        Assert.Equal("corral ran: check x.yaml\n", first.Stdout);
        Assert.Contains("scripts/corral: building corral into artifacts/corral-cli (first run: about a minute, once)...", first.Stderr);
        Assert.Matches(@"scripts/corral: built in \d+ s", first.Stderr);

        var second = await RunScript();
        Assert.Equal(0, second.ExitCode);
        Assert.Equal("corral ran: check x.yaml\n", second.Stdout);
        Assert.Equal("", second.Stderr);
    }
}

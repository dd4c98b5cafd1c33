using System.Diagnostics;

namespace Corral.Policy.Tests;

/// <summary>
/// `corral ca init` warns (one line on stderr, exit 0) when it writes the CA's private key into a git work tree that
/// does not ignore it, and says nothing when the key is ignored, outside any work tree, or git is not installed.
/// </summary>
public sealed class CaInitGitTests : IDisposable
{
    private const string Warning = "does not ignore it";
    private readonly TempPolicy _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void A_key_written_into_a_work_tree_that_does_not_ignore_it_is_warned_about()
    {
        GitInit();
        var run = CorralIn(_temp.Directory, "ca", "init");
        Assert.Equal(0, run.Code);
        Assert.True(File.Exists(Path.Combine(_temp.Directory, "corral-ca", "corral-ca.key")));
        var warning = Assert.Single(run.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("corral-ca.key", warning);
        Assert.Contains(Warning, warning);
    }

    [Fact]
    public void A_key_the_work_tree_ignores_is_not_warned_about()
    {
        GitInit();
        _temp.Write(".gitignore", "/corral-ca/\n");
        var run = CorralIn(_temp.Directory, "ca", "init");
        Assert.Equal(0, run.Code);
        Assert.Equal("", run.Err);
    }

    [Fact]
    public void A_key_outside_any_work_tree_is_not_warned_about()
    {
        SkipWithoutGit();
        var probe = Git(_temp.Directory, "rev-parse", "--is-inside-work-tree");
        Assert.SkipWhen(probe.Code == 0, $"the temp folder {_temp.Directory} is itself inside a git work tree");
        var run = CorralIn(_temp.Directory, "ca", "init");
        Assert.Equal(0, run.Code);
        Assert.Equal("", run.Err);
    }

    [Fact]
    public void Without_git_installed_ca_init_succeeds_without_a_warning()
    {
        GitInit(); // a work tree that would be warned about, were git there to ask
        var emptyPath = Directory.CreateDirectory(Path.Combine(_temp.Directory, "empty-path")).FullName;
        var run = CorralIn(_temp.Directory, new Dictionary<string, string> { ["PATH"] = emptyPath }, "ca", "init");
        Assert.Equal(0, run.Code);
        Assert.Equal("", run.Err);
        Assert.True(File.Exists(Path.Combine(_temp.Directory, "corral-ca", "corral-ca.key")));
    }

    private void GitInit()
    {
        SkipWithoutGit();
        var init = Git(_temp.Directory, "init", "-q");
        Assert.True(init.Code == 0, init.Err);
    }

    private static void SkipWithoutGit() => Assert.SkipWhen(FindOnPath("git") is null, "git is not installed");

    private static (int Code, string Out, string Err) Git(string directory, params string[] args) => Run("git", directory, null, args);

    private static (int Code, string Out, string Err) CorralIn(string directory, params string[] args) => CorralIn(directory, null, args);

    private static (int Code, string Out, string Err) CorralIn(string directory, Dictionary<string, string>? environment, params string[] args)
    {
        // The dotnet host by its full path, so a PATH without git still starts it.
        var dotnet = FindOnPath("dotnet") ?? throw new InvalidOperationException("dotnet is not on PATH");
        var dll = Path.Combine(AppContext.BaseDirectory, "corral.dll");
        return Run(new FileInfo(dotnet).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? dotnet, directory, environment, [dll, .. args]);
    }

    private static (int Code, string Out, string Err) Run(string program, string directory, Dictionary<string, string>? environment, string[] args)
    {
        var start = new ProcessStartInfo(program) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) start.ArgumentList.Add(a);
        foreach (var (k, v) in environment ?? []) start.Environment[k] = v;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(60_000), $"{program} did not finish within a minute");
        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);
}

using Corral.Testing;

namespace Corral.Cli.Tests;

/// <summary>
/// `corral ca init` warns (one line on stderr, exit 0) when it writes the CA's private key into a git work tree that
/// does not ignore it, and says nothing when the key is ignored, outside any work tree, or git is not installed.
/// </summary>
public sealed class CaInitGitTests : IDisposable
{
    private const string Warning = "does not ignore it";
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void A_key_written_into_a_work_tree_that_does_not_ignore_it_is_warned_about()
    {
        GitInit();
        var run = CaInit();
        Assert.Equal(0, run.ExitCode);
        Assert.True(File.Exists(_temp.File("corral-ca/corral-ca.key")));
        var warning = Assert.Single(run.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("corral-ca.key", warning);
        Assert.Contains(Warning, warning);
    }

    [Fact]
    public void A_key_the_work_tree_ignores_is_not_warned_about()
    {
        GitInit();
        _temp.Write(".gitignore", "/corral-ca/\n");
        var run = CaInit();
        Assert.Equal(0, run.ExitCode);
        Assert.Equal("", run.Stderr);
    }

    [Fact]
    public void A_key_outside_any_work_tree_is_not_warned_about()
    {
        SkipWithoutGit();
        var probe = Git("rev-parse", "--is-inside-work-tree");
        Assert.SkipWhen(probe.ExitCode == 0, $"the temp folder {_temp.Path} is itself inside a git work tree");
        var run = CaInit();
        Assert.Equal(0, run.ExitCode);
        Assert.Equal("", run.Stderr);
    }

    [Fact]
    public void Without_git_installed_ca_init_succeeds_without_a_warning()
    {
        GitInit(); // a work tree that would be warned about, were git there to ask
        var emptyPath = Directory.CreateDirectory(_temp.File("empty-path")).FullName;
        var run = CaInit(new Dictionary<string, string> { ["PATH"] = emptyPath });
        Assert.Equal(0, run.ExitCode);
        Assert.Equal("", run.Stderr);
        Assert.True(File.Exists(_temp.File("corral-ca/corral-ca.key")));
    }

    private void GitInit()
    {
        SkipWithoutGit();
        var init = Git("init", "-q");
        Assert.True(init.ExitCode == 0, init.Stderr);
    }

    private static void SkipWithoutGit() => Assert.SkipWhen(!ProcessRunner.IsInstalled("git"), "git is not installed");

    private ProcessResult Git(params string[] args) => ProcessRunner.Run("git", args, new RunOptions { WorkingDirectory = _temp.Path });

    private ProcessResult CaInit(IReadOnlyDictionary<string, string>? environment = null)
    {
        // The dotnet host by its full, resolved path, so a PATH without git still starts it.
        var host = Path.IsPathRooted(CorralProgram.DotnetHost) ? CorralProgram.DotnetHost : FindOnPath(CorralProgram.DotnetHost);
        var dotnet = new FileInfo(host).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? host;
        return ProcessRunner.Run(dotnet, [CorralProgram.Dll, "ca", "init"], new RunOptions { WorkingDirectory = _temp.Path, Environment = environment });
    }

    private static string FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists) ?? throw new InvalidOperationException($"{name} is not on PATH");
}

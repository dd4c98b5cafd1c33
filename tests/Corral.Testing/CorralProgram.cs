namespace Corral.Testing;

/// <summary>
/// The <c>corral</c> command as a user runs it: the built corral.dll as its own process. A test project that runs it
/// references src/Corral.Cli, which puts corral.dll next to the tests.
/// </summary>
public static class CorralProgram
{
    /// <summary>The built corral.dll (copied next to the tests).</summary>
    public static string Dll
    {
        get
        {
            var dll = Path.Combine(AppContext.BaseDirectory, "corral.dll");
            Assert.True(File.Exists(dll), $"built corral not found at {dll} (does the test project reference src/Corral.Cli?)");
            return dll;
        }
    }

    /// <summary>The dotnet host that runs the tests (so a child runs on the same runtime), else dotnet on PATH.</summary>
    public static string DotnetHost => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";

    /// <summary>Runs <c>corral ARGS</c> in <paramref name="workingDirectory"/> to its end (two minutes at most).</summary>
    public static ProcessResult Run(string workingDirectory, params string[] args) =>
        ProcessRunner.Run(DotnetHost, [Dll, .. args], new RunOptions { WorkingDirectory = workingDirectory, Timeout = TimeSpan.FromMinutes(2) });

    /// <summary>Starts <c>corral ARGS</c> as a long-running child (a gateway, a lab run).</summary>
    public static ChildProcess Start(IEnumerable<string> args, string? workingDirectory = null, bool ownsFolder = false, int? openFileLimit = null,
        IReadOnlyDictionary<string, string?>? environment = null) =>
        ChildProcess.Start(DotnetHost, [Dll, .. args], workingDirectory, ownsFolder, openFileLimit, environment);
}

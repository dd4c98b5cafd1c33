using Corral.Cli;

namespace Corral.Testing;

/// <summary>The <c>corral</c> command as a user runs it: the built corral.dll as its own process, or its entry point in-process.</summary>
public static class CorralProgram
{
    /// <summary>The built corral.dll (copied next to the tests).</summary>
    public static string Dll
    {
        get
        {
            var dll = typeof(CorralCommand).Assembly.Location;
            Assert.True(File.Exists(dll), $"built corral not found at {dll}");
            return dll;
        }
    }

    /// <summary>The dotnet host that runs the tests (so a child runs on the same runtime), else dotnet on PATH.</summary>
    public static string DotnetHost => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";

    /// <summary>Runs <c>corral ARGS</c> in <paramref name="workingDirectory"/> to its end (two minutes at most).</summary>
    public static ProcessResult Run(string workingDirectory, params string[] args) =>
        ProcessRunner.Run(DotnetHost, [Dll, .. args], new RunOptions { WorkingDirectory = workingDirectory, Timeout = TimeSpan.FromMinutes(2) });

    /// <summary>Runs the command's entry point in this process, with its output captured.</summary>
    public static ProcessResult RunInProcess(params string[] args)
    {
        var (stdout, stderr) = (new StringWriter(), new StringWriter());
        var code = CorralCommand.Run(args, stdout, stderr);
        return new ProcessResult(code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>Starts <c>corral ARGS</c> as a long-running child (a gateway, a lab run).</summary>
    public static ChildProcess Start(IEnumerable<string> args, string? workingDirectory = null, bool ownsFolder = false, int? openFileLimit = null,
        IReadOnlyDictionary<string, string?>? environment = null) =>
        ChildProcess.Start(DotnetHost, [Dll, .. args], workingDirectory, ownsFolder, openFileLimit, environment);
}

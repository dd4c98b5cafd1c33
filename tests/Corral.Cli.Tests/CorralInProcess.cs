using Corral.Testing;

namespace Corral.Cli.Tests;

/// <summary>The <c>corral</c> command's entry point run in this process, with its output captured (no process start-up per call).</summary>
internal static class CorralInProcess
{
    public static ProcessResult Run(params string[] args)
    {
        var (stdout, stderr) = (new StringWriter(), new StringWriter());
        var code = CorralCommand.Run(args, stdout, stderr);
        return new ProcessResult(code, stdout.ToString(), stderr.ToString());
    }
}

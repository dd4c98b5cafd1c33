using System.ComponentModel;
using System.Diagnostics;

namespace Corral.Cli.Commands;

/// <summary>
/// Asks git whether a file it would see is ignored, so a secret written into a work tree can be flagged before it
/// is committed. Advisory only: no git, no work tree or any git failure means no answer, never an error.
/// </summary>
internal static class GitIgnoreCheck
{
    /// <summary>True when <paramref name="path"/> is inside a git work tree and git does not ignore it.</summary>
    public static bool IsExposed(string path)
    {
        var full = Path.GetFullPath(path);
        var start = new ProcessStartInfo("git")
        {
            WorkingDirectory = Path.GetDirectoryName(full)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        // check-ignore exits 0 when the path is ignored, 1 when it is not, 128 outside a work tree or on any error.
        foreach (var a in new[] { "check-ignore", "-q", "--", full }) start.ArgumentList.Add(a);
        try
        {
            using var git = Process.Start(start);
            if (git is null) return false;
            git.StandardOutput.ReadToEnd();
            git.StandardError.ReadToEnd();
            if (!git.WaitForExit(10_000))
            {
                git.Kill();
                return false;
            }
            return git.ExitCode == 1;
        }
        catch (Win32Exception)
        {
            return false; // git is not installed
        }
    }
}

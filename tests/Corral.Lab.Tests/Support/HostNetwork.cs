using Corral.Testing;

namespace Corral.Lab.Tests.Support;

/// <summary>What the tests need from the host: whether the transparent pass must run here, and what a run left behind.</summary>
public static class HostNetwork
{
    /// <summary>
    /// Null when the transparent pass must run on this machine (root, Linux, ip and iptables installed, as in CI);
    /// otherwise why a test may accept its skip. Deliberately coarser than the lab's own probe, so a broken probe
    /// cannot turn a CI run into a silent skip.
    /// </summary>
    public static string? WhyTransparentMayBeSkipped()
    {
        if (!OperatingSystem.IsLinux()) return "not Linux";
        if (!Environment.IsPrivilegedProcess) return "not root";
        var missing = new[] { "ip", "iptables" }.Where(p => !ProcessRunner.IsInstalled(p, "/usr/sbin")).ToArray();
        return missing.Length > 0 ? $"missing {string.Join(", ", missing)}" : null;
    }

    /// <summary>The run name (crlab-PID-XXXXXX) that a transparent pass printed in its progress, or null.</summary>
    public static string? RunName(string progress) =>
        System.Text.RegularExpressions.Regex.Match(progress, @"crlab-\d+-[0-9a-f]{6}") is { Success: true } m ? m.Value : null;

    /// <summary>Namespaces and iptables rules (nat PREROUTING, filter FORWARD) whose names start with <paramref name="tag"/>.</summary>
    public static async Task<IReadOnlyList<string>> LeftoversAsync(string tag)
    {
        var found = new List<string>();
        found.AddRange((await ProcessRunner.RunAsync("ip", "netns", "list")).Stdout.Split('\n').Where(l => l.StartsWith(tag, StringComparison.Ordinal)).Select(l => "namespace " + l));
        found.AddRange((await ProcessRunner.RunAsync("iptables", "-w", "-t", "nat", "-S", "PREROUTING")).Stdout.Split('\n').Where(l => l.Contains(tag)).Select(l => "nat " + l));
        found.AddRange((await ProcessRunner.RunAsync("iptables", "-w", "-S", "FORWARD")).Stdout.Split('\n').Where(l => l.Contains(tag)).Select(l => "filter " + l));
        return found;
    }
}

using System.Security.Cryptography;

namespace Corral.Lab.Namespaces;

/// <summary>
/// Whether this machine can run the transparent pass: Linux, root, iproute2 and iptables, and a kernel that lets us
/// make a network namespace with a veth pair and a nat REDIRECT rule. The probe does all of that inside a throwaway
/// namespace, so it changes nothing on the host.
/// </summary>
public static class TransparentCapability
{
    /// <summary>Null when the transparent pass can run; otherwise why not, in words for the report.</summary>
    public static async Task<string?> MissingAsync()
    {
        if (!OperatingSystem.IsLinux()) return "transparent mode needs Linux network namespaces";
        if (!Environment.IsPrivilegedProcess) return "transparent mode needs root (it creates network namespaces, veth pairs and iptables rules)";
        foreach (var (tool, package) in new[] { ("ip", "iproute2"), ("iptables", "iptables") })
            if (!HostCommand.Exists(tool)) return $"transparent mode needs the '{tool}' command (Debian package {package})";
        var probe = $"{LabTopology.Prefix}{Environment.ProcessId}-probe{RandomNumberGenerator.GetInt32(100000):D5}";
        var add = await HostCommand.RunAsync("ip", ["netns", "add", probe]);
        if (!add.Succeeded) return $"cannot create a network namespace here: {add.Output}";
        try
        {
            var veth = await HostCommand.RunAsync("ip", ["-n", probe, "link", "add", "probe0", "type", "veth", "peer", "name", "probe1"]);
            if (!veth.Succeeded) return $"cannot create a veth pair here: {veth.Output}";
            var nat = await HostCommand.RunAsync("ip", ["netns", "exec", probe, "iptables", "-w", "-t", "nat", "-A", "PREROUTING", "-i", "probe0", "-p", "tcp", "-j", "REDIRECT", "--to-ports", "1"]);
            if (!nat.Succeeded) return $"iptables cannot REDIRECT here (nat table): {nat.Output}";
            return null;
        }
        finally
        {
            await HostCommand.RunAsync("ip", ["netns", "del", probe]);
        }
    }
}

using Corral.Lab.Namespaces;

namespace Corral.Lab.Tests;

/// <summary>The sweep removes only what a run that no longer exists left behind: names are crlab-PID-….</summary>
public sealed class SweepNamingTests
{
    [Fact]
    public void Only_lab_names_of_processes_that_are_gone_are_stale()
    {
        var dead = 3_999_000;
        while (Directory.Exists($"/proc/{dead}")) dead++;
        Assert.True(LabTopology.IsStale($"crlab-{dead}-abcdef-agent"));
        Assert.True(LabTopology.IsStale($"crlab-{dead}-abcdef"));        // an iptables comment
        Assert.True(LabTopology.IsStale($"crlab-{dead}-probe00042"));    // a capability probe
        Assert.False(LabTopology.IsStale($"crlab-{Environment.ProcessId}-abcdef-agent")); // this process: live
        Assert.False(LabTopology.IsStale("crlab-1-abcdef-agent"));       // init is always alive
        Assert.False(LabTopology.IsStale($"crl-agent-{dead}"));          // the gateway tests' namespaces are theirs
        Assert.False(LabTopology.IsStale("crlab-x-abcdef"));
        Assert.False(LabTopology.IsStale("crlab--abcdef"));
        Assert.False(LabTopology.IsStale("docker0"));
    }
}

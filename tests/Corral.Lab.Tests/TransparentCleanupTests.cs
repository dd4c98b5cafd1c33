using Corral.Lab.Tests.Support;
using Corral.Testing;

namespace Corral.Lab.Tests;

/// <summary>
/// The transparent pass leaves nothing behind: not after Ctrl-C (in process and as `corral lab` receiving SIGINT), and
/// a crashed run's namespaces and iptables rules neither break the next run nor survive it.
/// </summary>
[Collection(LabNetworkCollection.Name)]
public sealed class TransparentCleanupTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_crashed_runs_namespace_veth_and_rules_are_swept_and_the_next_run_passes()
    {
        SkipWhenNotCapable();
        var dead = 3_999_000;
        while (Directory.Exists($"/proc/{dead}")) dead++;
        var stale = $"crlab-{dead}-dead01";
        const string link = "cldead01a";
        try
        {
            // What a kill -9 in the middle of a run leaves: a namespace, a veth to the host, and the two host rules.
            await ProcessRunner.MustRunAsync("ip", "netns", "add", $"{stale}-agent");
            await ProcessRunner.MustRunAsync("ip", "link", "add", link, "type", "veth", "peer", "name", "veth0", "netns", $"{stale}-agent");
            await ProcessRunner.MustRunAsync("iptables", "-w", "-t", "nat", "-A", "PREROUTING", "-i", link, "-p", "tcp", "-m", "comment", "--comment", stale, "-j", "REDIRECT", "--to-ports", "9");
            await ProcessRunner.MustRunAsync("iptables", "-w", "-I", "FORWARD", "1", "-i", link, "-m", "comment", "--comment", stale, "-j", "DROP");
            Assert.Equal(3, (await HostNetwork.LeftoversAsync(stale)).Count);

            var progress = new StringWriter();
            var report = await new LabRunner(progress).RunAsync(LabModes.Transparent);
            output.WriteLine(progress.ToString());
            Assert.True(report.AllPassed, report.ToTable());
            Assert.Empty(await HostNetwork.LeftoversAsync(stale));
            Assert.NotEqual(0, (await ProcessRunner.RunAsync("ip", "link", "show", link)).ExitCode); // the veth went with its namespace
            Assert.Empty(await HostNetwork.LeftoversAsync(HostNetwork.RunName(progress.ToString())!));
        }
        finally
        {
            await ProcessRunner.RunAsync("iptables", "-w", "-t", "nat", "-D", "PREROUTING", "-i", link, "-p", "tcp", "-m", "comment", "--comment", stale, "-j", "REDIRECT", "--to-ports", "9");
            await ProcessRunner.RunAsync("iptables", "-w", "-D", "FORWARD", "-i", link, "-m", "comment", "--comment", stale, "-j", "DROP");
            await ProcessRunner.RunAsync("ip", "netns", "del", $"{stale}-agent");
        }
    }

    [Fact]
    public async Task Cancelling_in_the_middle_of_the_transparent_pass_removes_its_namespaces_and_rules()
    {
        SkipWhenNotCapable();
        using var cancel = new CancellationTokenSource();
        string? during = null;
        var progress = new WatchingWriter(text =>
        {
            if (during is null && text.Contains($"transparent [ 3/{Scenarios.All.Count}]"))
            {
                during = string.Join("\n", HostNetwork.LeftoversAsync("crlab-").GetAwaiter().GetResult());
                cancel.Cancel();
            }
        });
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => new LabRunner(progress).RunAsync(LabModes.Transparent, cancel.Token));
        output.WriteLine(progress.ToString());
        var run = HostNetwork.RunName(progress.ToString());
        Assert.NotNull(run);
        Assert.Contains($"{run}-agent", during); // the check below is not vacuous: the run's namespaces existed
        Assert.Contains($"--comment {run}", during);
        Assert.Empty(await HostNetwork.LeftoversAsync(run));
    }

    [Fact]
    public async Task Corral_lab_interrupted_with_SIGINT_cleans_up_and_exits_130()
    {
        SkipWhenNotCapable();
        await using var lab = CorralProgram.Start(["lab", "--mode", "transparent"]);
        var tag = $"crlab-{lab.Id}-";
        await lab.WaitForOutputAsync("transparent listener on", TimeSpan.FromSeconds(90));
        var during = await HostNetwork.LeftoversAsync(tag);
        await lab.SignalAsync("INT");
        var exitCode = await lab.WaitForExitAsync(60);
        output.WriteLine(lab.Output);
        Assert.Equal(5, during.Count); // three namespaces and two host rules while it ran
        Assert.Equal(130, exitCode);
        Assert.Contains("interrupted; cleaned up", lab.Output);
        Assert.Empty(await HostNetwork.LeftoversAsync(tag));
    }

    private static void SkipWhenNotCapable()
    {
        if (HostNetwork.WhyTransparentMayBeSkipped() is { } why) Assert.Skip($"transparent clean-up test: {why}");
    }

    /// <summary>A progress writer that shows the test everything the lab writes, as it writes it.</summary>
    private sealed class WatchingWriter(Action<string> watch) : StringWriter
    {
        public override void Write(string? value)
        {
            base.Write(value);
            if (value is not null) watch(value);
        }

        public override void WriteLine(string? value)
        {
            base.WriteLine(value);
            if (value is not null) watch(value);
        }
    }
}

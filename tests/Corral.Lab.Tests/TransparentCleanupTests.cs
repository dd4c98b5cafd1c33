using System.Diagnostics;
using System.Text;
using Corral.Cli;
using Corral.Lab.Tests.Support;

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
            await HostNetwork.RunCheckedAsync("ip", "netns", "add", $"{stale}-agent");
            await HostNetwork.RunCheckedAsync("ip", "link", "add", link, "type", "veth", "peer", "name", "veth0", "netns", $"{stale}-agent");
            await HostNetwork.RunCheckedAsync("iptables", "-w", "-t", "nat", "-A", "PREROUTING", "-i", link, "-p", "tcp", "-m", "comment", "--comment", stale, "-j", "REDIRECT", "--to-ports", "9");
            await HostNetwork.RunCheckedAsync("iptables", "-w", "-I", "FORWARD", "1", "-i", link, "-m", "comment", "--comment", stale, "-j", "DROP");
            Assert.Equal(3, (await HostNetwork.LeftoversAsync(stale)).Count);

            var progress = new StringWriter();
            var report = await new LabRunner(progress).RunAsync(LabModes.Transparent);
            output.WriteLine(progress.ToString());
            Assert.True(report.AllPassed, report.ToTable());
            Assert.Empty(await HostNetwork.LeftoversAsync(stale));
            Assert.NotEqual(0, (await HostNetwork.RunAsync("ip", "link", "show", link)).ExitCode); // the veth went with its namespace
            Assert.Empty(await HostNetwork.LeftoversAsync(HostNetwork.RunName(progress.ToString())!));
        }
        finally
        {
            await HostNetwork.RunAsync("iptables", "-w", "-t", "nat", "-D", "PREROUTING", "-i", link, "-p", "tcp", "-m", "comment", "--comment", stale, "-j", "REDIRECT", "--to-ports", "9");
            await HostNetwork.RunAsync("iptables", "-w", "-D", "FORWARD", "-i", link, "-m", "comment", "--comment", stale, "-j", "DROP");
            await HostNetwork.RunAsync("ip", "netns", "del", $"{stale}-agent");
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
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "corral.dll"), "lab", "--mode", "transparent" }) info.ArgumentList.Add(a);
        using var lab = Process.Start(info)!;
        var seen = new StringBuilder();
        var built = new TaskCompletionSource();
        lab.OutputDataReceived += (_, e) =>
        {
            lock (seen) seen.AppendLine(e.Data);
            if (e.Data?.Contains("transparent listener on") == true) built.TrySetResult();
        };
        lab.ErrorDataReceived += (_, e) => { lock (seen) seen.AppendLine(e.Data); };
        lab.BeginOutputReadLine();
        lab.BeginErrorReadLine();
        var tag = $"crlab-{lab.Id}-";
        try
        {
            await built.Task.WaitAsync(TimeSpan.FromSeconds(90));
            var during = await HostNetwork.LeftoversAsync(tag);
            Assert.Equal(0, (await HostNetwork.RunAsync("kill", "-INT", lab.Id.ToString())).ExitCode);
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await lab.WaitForExitAsync(wait.Token);
            output.WriteLine(seen.ToString());
            Assert.Equal(5, during.Count); // three namespaces and two host rules while it ran
            Assert.Equal(130, lab.ExitCode);
            Assert.Contains("interrupted; cleaned up", seen.ToString());
            Assert.Empty(await HostNetwork.LeftoversAsync(tag));
        }
        finally
        {
            if (!lab.HasExited) lab.Kill(entireProcessTree: true);
        }
    }

    [Fact]
    public void Corral_lab_help_documents_the_mode_option_and_a_wrong_mode_is_a_usage_error()
    {
        var stdout = new StringWriter();
        Assert.Equal(0, CorralCommand.Run(["lab", "--help"], stdout, new StringWriter()));
        Assert.Contains("--mode", stdout.ToString());
        Assert.Contains("transparent", stdout.ToString());
        var stderr = new StringWriter();
        Assert.Equal(CorralCommand.UsageError, CorralCommand.Run(["lab", "--mode", "sideways"], new StringWriter(), stderr));
        Assert.Contains("sideways", stderr.ToString());
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

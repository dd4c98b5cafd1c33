using Corral.Testing;

namespace Corral.Cli.Tests;

/// <summary>
/// <c>corral gateway</c> in the Generic Host, as a real process: Ctrl-C and SIGQUIT are the same graceful stop as
/// SIGTERM (drain, then the admin server, exit 0), and the log keeps its one-line console format without the host's
/// own status lines.
/// </summary>
public sealed class GatewayLifetimeTests
{
    [Theory]
    [InlineData("INT")]
    [InlineData("QUIT")]
    public async Task A_stop_signal_drains_stops_every_service_and_exits_0(string signal)
    {
        var (port, adminPort) = (ChildProcess.FreePort(), ChildProcess.FreePort());
        await using var gateway = GatewayProcess.Start(GatewayProcess.NewFolder(""), ["--listen", $"127.0.0.1:{port}", "--admin", $"127.0.0.1:{adminPort}"]);
        await gateway.WaitForPortAsync(port);
        await gateway.WaitForPortAsync(adminPort);

        await gateway.SignalAsync(signal);

        Assert.Equal(0, await gateway.WaitForExitAsync());
        var output = gateway.Output;
        Assert.Matches(@"(?m)^\d\d:\d\d:\d\d info: corral\[\d+\] Policy foundry-agents-eastus \([0-9a-f]{64}\) in force\r?$", output);
        Assert.Matches(@"(?m)^\d\d:\d\d:\d\d warn: corral\[\d+\] Treating 127\.0\.0\.0/8 as public internet", output);
        var draining = output.IndexOf("Shutting down: draining connections", StringComparison.Ordinal);
        Assert.True(draining >= 0, output);
        Assert.True(output.IndexOf("Gateway stopped", StringComparison.Ordinal) > draining, output);
        Assert.DoesNotContain("Application started", output); // the host's status lines are not the gateway's log
        Assert.DoesNotContain("Hosting environment", output);
    }
}

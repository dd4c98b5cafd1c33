using Corral.Gateway.Proxy;
using Corral.Policy;
using Corral.Policy.Compilation;

namespace Corral.Gateway.Tests;

/// <summary>
/// The per-agent budget counts against a clock that has run for a long time: Stopwatch timestamps are nanoseconds on
/// Linux, so a gateway on a machine up for days sees timestamps near 10^14, and the windows must still count.
/// </summary>
public sealed class AgentBudgetsTests
{
    /// <summary>A monotonic clock at a chosen timestamp, in nanoseconds (as Linux's Stopwatch).</summary>
    private sealed class Clock(long nanoseconds) : TimeProvider
    {
        public long Nanoseconds { get; set; } = nanoseconds;
        public override long GetTimestamp() => Nanoseconds;
        public override long TimestampFrequency => 1_000_000_000;
    }

    private static CompiledAgent Agent()
    {
        var yaml = $$"""
            version: 1
            defaultAction: deny
            webGroups:
              tools: { domains: [tools.example.test] }
            agents:
              interpreter: { token-sha256: {{CompiledAgents.HashOf("corral-agent-test-budget-0004")}}, cidrs: [127.0.0.0/8], budget: { requests-per-minute: 2, upstream-bytes-per-hour: 1KiB } }
            rules:
              - { name: tools, priority: 1, source: [interpreter], webGroups: [tools], action: permit }
            """;
        var result = PolicyChecker.CheckText("p.yaml", yaml, Path.GetTempPath());
        Assert.True(result.Succeeded, string.Join("\n", result.Diagnostics));
        return result.Compiled!.Agents.Find("interpreter")!;
    }

    [Theory]
    [InlineData(5L * 60 * 1_000_000_000)]           // five minutes up
    [InlineData(7L * 3600 * 1_000_000_000)]         // seven hours up: timestamp x 10^7 no longer fits a long
    [InlineData(400L * 24 * 3600 * 1_000_000_000)]  // 400 days up
    public void Budgets_count_and_forget_whatever_the_uptime(long uptimeNanoseconds)
    {
        var clock = new Clock(uptimeNanoseconds);
        var budgets = new AgentBudgets(clock);
        var agent = Agent();

        Assert.Null(budgets.TryStart(agent));
        Assert.Null(budgets.TryStart(agent));
        Assert.Contains("2 requests a minute", budgets.TryStart(agent));
        Assert.False(budgets.AddBytes(agent, 700));
        Assert.Contains("1024 bytes sent upstream an hour", budgets.TryStart(agent, 0, countsRequest: false) ?? budgets.TryStart(agent, 400, countsRequest: false));

        clock.Nanoseconds += 2L * 60 * 1_000_000_000; // two minutes on: the requests have left their window, the bytes have not
        Assert.Null(budgets.TryStart(agent));
        Assert.Contains("bytes sent upstream an hour", budgets.TryStart(agent, 400, countsRequest: false));
        clock.Nanoseconds += 2L * 3600 * 1_000_000_000; // two hours on: the bytes have left theirs
        Assert.Null(budgets.TryStart(agent, 400, countsRequest: false));
    }
}

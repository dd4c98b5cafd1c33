using System.Text.Json;
using Xunit.Abstractions;

namespace Corral.Lab.Tests;

/// <summary>The whole lab, as CI runs it: every scenario through the real gateway, checked at the far end.</summary>
public sealed class LabRunTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Every_scenario_passes_and_the_report_names_the_deciding_rule_and_far_end_bytes()
    {
        var progress = new StringWriter();
        LabReport report;
        try
        {
            report = await new LabRunner(progress).RunAsync();
        }
        catch (InvalidOperationException e) when (e.Message.Contains("unprivileged_port_start") && Environment.UserName != "root")
        {
            output.WriteLine($"SKIPPED: {e.Message}");
            return;
        }
        output.WriteLine(progress.ToString());
        output.WriteLine(report.ToTable());
        Assert.True(report.AllPassed, report.ToTable());
        Assert.Equal(Scenarios.All.Select(s => s.Id), report.Scenarios.Select(r => r.Id));
        foreach (var (scenario, result) in Scenarios.All.Zip(report.Scenarios))
            if (scenario.ExpectedRule is not null) Assert.Equal(scenario.ExpectedRule, result.DecidingRule);

        var json = JsonDocument.Parse(report.ToJson()).RootElement;
        Assert.True(json.GetProperty("passed").GetBoolean());
        var byId = json.GetProperty("scenarios").EnumerateArray().ToDictionary(s => s.GetProperty("id").GetString()!);
        Assert.Equal(0, byId["prompt-injected-exfiltration"].GetProperty("bytesAtFarEnd").GetInt64());
        Assert.Equal(0, byId["lateral-movement"].GetProperty("bytesAtFarEnd").GetInt64());
        Assert.True(byId["runtime-startup"].GetProperty("bytesAtFarEnd").GetInt64() > 0);
        Assert.True(byId["approved-tool-call"].GetProperty("decrypted").GetBoolean());
        Assert.False(byId["runtime-startup"].GetProperty("decrypted").GetBoolean());
        Assert.True(report.Duration < TimeSpan.FromMinutes(2), $"the lab took {report.Duration}");
    }
}

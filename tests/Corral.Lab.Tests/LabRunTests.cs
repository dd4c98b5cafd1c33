using System.Text.Json;
using Corral.Lab.Tests.Support;

namespace Corral.Lab.Tests;

/// <summary>The whole lab, as CI runs it: every scenario through the real gateway in both modes, checked at the far end.</summary>
[Collection(LabNetworkCollection.Name)]
public sealed class LabRunTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Every_scenario_passes_in_both_modes_and_the_report_names_the_deciding_rule_and_far_end_bytes()
    {
        var progress = new StringWriter();
        LabReport report;
        try
        {
            report = await new LabRunner(progress).RunAsync(LabModes.Both);
        }
        catch (InvalidOperationException e) when (e.Message.Contains("unprivileged_port_start") && !Environment.IsPrivilegedProcess)
        {
            Assert.Skip($"the lab needs root to bind port 443: {e.Message}");
            return;
        }
        output.WriteLine(progress.ToString());
        output.WriteLine(report.ToTable());

        var modes = new List<LabMode> { LabMode.Explicit };
        var transparent = report.Pass(LabMode.Transparent)!;
        var transparentSkipped = (string?)null;
        if (HostNetwork.WhyTransparentMayBeSkipped() is { } why)
        {
            if (transparent.Skipped) transparentSkipped = $"explicit pass checked; transparent pass skipped: {why} ({transparent.SkippedBecause})";
            else modes.Add(LabMode.Transparent);
        }
        else
        {
            Assert.False(transparent.Skipped, $"root with ip and iptables, yet the transparent pass was skipped: {transparent.SkippedBecause}");
            modes.Add(LabMode.Transparent);
        }
        Assert.True(report.AllPassed, report.ToTable());

        var json = JsonDocument.Parse(report.ToJson()).RootElement;
        Assert.True(json.GetProperty("passed").GetBoolean());
        foreach (var mode in modes)
        {
            var pass = report.Pass(mode)!;
            Assert.True(pass.Succeeded, pass.Summary);
            Assert.Equal(Scenarios.All.Select(s => s.Id), pass.Scenarios.Select(r => r.Id));
            Assert.All(pass.Scenarios, r => Assert.Equal(ScenarioOutcome.Pass, r.Outcome));
            foreach (var (scenario, result) in Scenarios.All.Zip(pass.Scenarios))
                if (scenario.ExpectedRule is not null) Assert.Equal(scenario.ExpectedRule, result.DecidingRule);

            var byId = json.GetProperty("scenarios").EnumerateArray().Where(s => s.GetProperty("mode").GetString() == mode.Name())
                .ToDictionary(s => s.GetProperty("id").GetString()!);
            Assert.Equal(Scenarios.All.Count, byId.Count);
            Assert.All(byId.Values, s => Assert.Equal("pass", s.GetProperty("result").GetString()));
            foreach (var denied in new[] { "prompt-injected-exfiltration", "secret-to-approved-destination", "lateral-movement", "c2-callback", "supply-chain-download", "domain-fronting", "dns-rebinding" })
                Assert.Equal(0, byId[denied].GetProperty("bytesAtFarEnd").GetInt64());
            Assert.True(byId["runtime-startup"].GetProperty("bytesAtFarEnd").GetInt64() > 0);
            Assert.True(byId["approved-tool-call"].GetProperty("decrypted").GetBoolean());
            Assert.False(byId["runtime-startup"].GetProperty("decrypted").GetBoolean());
            // The promotion was preceded by a replay of the watch-mode flows: no runtime flow would be denied, the collector would.
            var promotion = byId["watch-then-enforce"].GetProperty("detail").GetString()!;
            Assert.Matches(@"replay before promotion: [1-9]\d* recorded flows, 0 runtime \(platform\) flows would be denied, [1-9]\d* to the collector would be blocked", promotion);
        }
        if (modes.Contains(LabMode.Transparent))
        {
            // What a transparent deployment sees: a TLS alert or a closed connection, not a proxy's 403 to a CONNECT.
            var byId = transparent.Scenarios.ToDictionary(s => s.Id);
            Assert.Contains("TLS refused by the gateway (access_denied alert)", byId["prompt-injected-exfiltration"].Observed);
            Assert.Contains("connection closed by the gateway", byId["lateral-movement"].Observed);
            Assert.Contains("(the approved server's own address)", byId["domain-fronting"].Observed);
            Assert.Contains("the agent connected to 10.30.", byId["dns-rebinding"].Observed);
            Assert.DoesNotContain("CONNECT", string.Join(" ", transparent.Scenarios.Select(s => s.Observed)));
            var run = HostNetwork.RunName(progress.ToString());
            Assert.NotNull(run);
            Assert.Empty(await HostNetwork.LeftoversAsync(run));
        }
        Assert.True(report.Duration < TimeSpan.FromMinutes(2), $"the lab took {report.Duration}");
        if (transparentSkipped is not null) Assert.Skip(transparentSkipped);
    }

}

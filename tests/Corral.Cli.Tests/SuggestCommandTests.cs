using System.Text.Json;
using Corral.Policy;
using Corral.Testing;

namespace Corral.Cli.Tests;

/// <summary>
/// <c>corral suggest</c> on a flow log the real gateway wrote in watch mode: siblings collapse to a wildcard only below
/// a registrable domain, risky names are held back, and <c>--write</c> edits the policy in place, comments kept.
/// </summary>
public sealed class SuggestCommandTests
{
    private const string Encoded = "x7k2q9vmp4zt8wrb1nc6yd3hsg5fja0e.exfil.attacker.test";

    private static readonly string[] TwiceEach =
    [
        "a.pkgs.example.test", "b.pkgs.example.test", "c.pkgs.example.test",   // siblings under example.test
        "alice.github.io", "bob.github.io", "carol.github.io",                 // siblings under a public suffix: never *.github.io
        Encoded, "c2.attacker.test",
    ];

    private static int Run(out string stdout, out string stderr, params string[] args)
    {
        (var code, stdout, stderr) = CorralInProcess.Run(args);
        return code;
    }

    private static async Task<(GatewayHarness, LoopbackUpstream)> RecordAsync()
    {
        string[] names = [.. TwiceEach, "once.other.test"];
        var upstream = LoopbackUpstream.Start(443, names);
        var gw = GatewayHarness.Foundry($"{upstream.EndPoint.Address} {string.Join(' ', names)}\n", watch: true);
        foreach (var name in TwiceEach.Concat(TwiceEach).Append("once.other.test"))
        {
            using var client = gw.Client(upstream.Certificate); // a connection (so a flow) each
            await client.GetStringAsync($"https://{name}/");
        }
        await gw.WaitForRecordsAsync(rs => rs.Count(r => r.GetProperty("event").GetString() == "close") >= TwiceEach.Length * 2 + 1);
        // The threat feed learns about the C2 host after the fact (the policy is read again by suggest).
        File.AppendAllText(Path.Combine(gw.Folder, "feeds", "threat-domains.txt"), "c2.attacker.test\n");
        return (gw, upstream);
    }

    [Fact]
    public async Task Suggest_collapses_siblings_below_a_registrable_domain_and_holds_back_what_needs_a_person()
    {
        var (gw, upstream) = await RecordAsync();
        await using var _g = gw;
        await using var _u = upstream;

        Assert.Equal(0, Run(out var json, out _, "suggest", gw.PolicyPath, "--flows", gw.FlowLogPath, "--json", "--public-standin", "127.0.0.0/8"));
        var s = JsonDocument.Parse(json).RootElement;
        Assert.Equal("foundry-tool-calls", s.GetProperty("web_group").GetString()); // the permit-by-name rule closest before the denies
        var entries = s.GetProperty("entries").EnumerateArray().ToDictionary(e => e.GetProperty("domain").GetString()!);
        var wildcard = entries["*.pkgs.example.test"];
        Assert.Equal(["a.pkgs.example.test", "b.pkgs.example.test", "c.pkgs.example.test"], wildcard.GetProperty("names").EnumerateArray().Select(n => n.GetString()!).Order().ToArray());
        Assert.Equal(6, wildcard.GetProperty("flows").GetInt64());
        Assert.Equal(["foundry-agents"], wildcard.GetProperty("source_groups").EnumerateArray().Select(n => n.GetString()!).ToArray());
        Assert.DoesNotContain(entries.Keys, k => k.EndsWith("github.io", StringComparison.Ordinal) && k.StartsWith('*'));
        Assert.Contains("alice.github.io", entries.Keys);
        var held = s.GetProperty("held_back").EnumerateArray().ToDictionary(e => e.GetProperty("name").GetString()!, e => e.GetProperty("flags").EnumerateArray().Select(f => f.GetString()!).ToArray());
        Assert.Contains("encoded-label", held[Encoded]);
        Assert.Contains("one-flow", held["once.other.test"]);
        Assert.Contains("threat-feed", held["c2.attacker.test"]);
        Assert.DoesNotContain(entries.Keys, k => k.Contains("attacker") || k.Contains("once.other"));

        // --rule narrows to one rule's denials: the C2 host is denied by deny-threat-intel, not by the catch-all.
        Assert.Equal(0, Run(out var yaml, out _, "suggest", gw.PolicyPath, "--flows", gw.FlowLogPath, "--rule", "default-deny-internet", "--public-standin", "127.0.0.0/8"));
        Assert.Contains("      - \"*.pkgs.example.test\"", yaml);
        Assert.DoesNotContain("c2.attacker.test", yaml);
        Assert.Contains("# Held back", yaml);
        Assert.Contains("With these entries 12 of 12 of those flows would be permitted", yaml);
    }

    [Fact]
    public async Task Suggest_write_edits_the_policy_in_place_keeping_comments_and_the_edited_policy_permits_those_flows()
    {
        var (gw, upstream) = await RecordAsync();
        await using var _g = gw;
        await using var _u = upstream;
        var policy = Path.Combine(gw.Folder, "candidate.yaml");
        File.Copy(gw.PolicyPath, policy);
        // Enforcing, so that a replay afterwards shows what the edit changes for real.
        File.WriteAllText(policy, File.ReadAllText(policy).Replace(", mode: watch", ""));
        var before = File.ReadAllText(policy);

        Assert.Equal(0, Run(out _, out _, "suggest", policy, "--flows", gw.FlowLogPath, "--rule", "default-deny-internet", "--public-standin", "127.0.0.0/8"));
        Assert.Equal(before, File.ReadAllText(policy)); // never changed without --write

        Assert.Equal(0, Run(out var output, out _, "suggest", policy, "--flows", gw.FlowLogPath, "--rule", "default-deny-internet", "--write", "--public-standin", "127.0.0.0/8"));
        Assert.Contains("# Wrote", output);
        var after = File.ReadAllText(policy);
        foreach (var comment in before.Split('\n').Where(l => l.TrimStart().StartsWith('#'))) Assert.Contains(comment, after);
        Assert.Contains("\"*.pkgs.example.test\"", after);
        Assert.DoesNotContain(Encoded, after);
        var check = PolicyChecker.CheckFile(policy, options: GatewayHarness.StandIns);
        Assert.True(check.Succeeded, string.Join("\n", check.Diagnostics));
        Assert.Equal(2, check.Document!.WebGroups.Single(g => g.Name == "foundry-tool-calls").Domains.Count(d => d.Value.ToString() == "*.pkgs.example.test" || d.Value.ToString() == "alice.github.io"));

        Assert.Equal(0, Run(out var replay, out _, "replay", policy, "--flows", gw.FlowLogPath, "--json", "--public-standin", "127.0.0.0/8"));
        var report = JsonDocument.Parse(replay).RootElement;
        var nowPermitted = report.GetProperty("changes").EnumerateArray().Where(c => c.GetProperty("to").GetProperty("rule").GetString() == "allow-tool-calls").Sum(c => c.GetProperty("count").GetInt64());
        Assert.True(nowPermitted >= 12, replay);
    }
}

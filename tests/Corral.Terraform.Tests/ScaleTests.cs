using System.Text;
using Corral.Policy;
using Corral.Terraform.Mapping;
using Corral.Testing;

namespace Corral.Terraform.Tests;

/// <summary>
/// The export at scale: a 1,000,000-line threat feed and a 100,000-domain web group give a module under 5 MB that
/// still checks against both provider releases, with every omission a warning and in the README. (The time target,
/// under 5 s, is measured by bench/terraform-scale.sh, not here.)
/// </summary>
public sealed class ScaleTests
{
    private const int FeedAddresses = 950_000;
    private const int FeedDomains = 50_000;
    private const int WebDomains = 100_000;
    private const long MaxModuleBytes = 5L * 1024 * 1024;

    private static TerraformModule ExportScalePolicy(TempFolder dir)
    {
        var feed = new StringBuilder("# scale feed\n");
        for (var i = 0; i < FeedAddresses; i++) feed.Append("11.").Append(i / 65536).Append('.').Append(i / 256 % 256).Append('.').Append(i % 256).Append('\n');
        for (var i = 0; i < FeedDomains; i++) feed.Append($"c2-{i:D6}.bad-example.net\n");
        File.WriteAllText(dir.File("feed.txt"), feed.ToString());
        var policy = new StringBuilder("version: 1\nname: scale\nsmartGroups:\n  agents: { cidrs: [10.20.1.0/24] }\nwebGroups:\n  allowed:\n    domains:\n");
        for (var i = 0; i < WebDomains; i++) policy.Append($"      - svc-{i:D6}.allowed-example.com\n");
        policy.Append("""
            threatGroups:
              feed: { feeds: [feed.txt] }
            rules:
              - { name: deny-feed, priority: 1, source: [agents], destination: [feed], action: deny }
              - { name: allow-web, priority: 2, source: [agents], webGroups: [allowed], ports: [443], action: permit }
              - { name: deny-rest, priority: 3, source: [agents], destination: [public-internet], action: deny }

            """);
        File.WriteAllText(dir.File("corral.yaml"), policy.ToString());
        var result = PolicyChecker.CheckFile(dir.File("corral.yaml"));
        Assert.True(result.Succeeded, string.Join("\n", result.Diagnostics.Take(5)));
        return TerraformExporter.Export(result.Compiled!);
    }

    [Fact]
    public void A_million_line_feed_and_a_hundred_thousand_domains_fit_under_five_megabytes_and_check_clean()
    {
        using var dir = new TempFolder("corral-tf-");
        var module = ExportScalePolicy(dir);
        var bytes = module.Files.Sum(f => (long)Encoding.UTF8.GetByteCount(f.Value));
        Assert.True(bytes < MaxModuleBytes, $"the module is {bytes:N0} bytes");

        // Every omission is a warning, and every warning is in the README.
        var omitted = Assert.Single(module.Warnings, w => w.Code == "threat-feed-addresses");
        Assert.Contains($"{FeedAddresses:N0} address entries", omitted.Message);
        Assert.Contains($"{FeedDomains} local feed domain(s)", Assert.Single(module.Warnings, w => w.Code == "threat-feed-domains").Message);
        Assert.Contains($"{WebDomains:N0} entries", Assert.Single(module.Warnings, w => w.Code == "web-group-size").Message);
        var readme = module.Files.Single(f => f.Key == ModuleReadme.FileName).Value;
        Assert.All(module.Warnings, w => Assert.Contains($"- `{w.Code}` ", readme));

        // The web group is whole; the threat group is ThreatIQ alone.
        var web = module.Files.Single(f => f.Key == WebGroupsFile.FileName).Value;
        Assert.Equal(WebDomains, web.Split("allowed-example.com\",\n").Length - 1);
        var smart = module.Files.Single(f => f.Key == SmartGroupsFile.FileName).Value;
        Assert.Contains("external = \"threatiq\"", smart);
        Assert.DoesNotContain("11.0.0.1", smart);

        var output = dir.File("infra");
        module.WriteTo(output);
        var parsed = HclParser.ParseFolder(output);
        // Against the release the module pins (corral terraform's default controller line, 9.0).
        var pinned = ProviderSchemas.Aviatrix.Where(r => r.Version.StartsWith("v9.0.", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(pinned);
        foreach (var release in pinned)
        {
            var problems = SchemaChecker.Check(parsed, release);
            Assert.True(problems.Count == 0, $"{release}:\n" + string.Join("\n", problems.Take(10)));
        }
        if (TerraformCli.Path is not null)
        {
            var (code, fmt) = TerraformCli.Run(output, "fmt", "-check", "-recursive", "-no-color", ".");
            Assert.True(code == 0, fmt);
        }
    }

    [Fact]
    public void A_smart_group_past_Aviatrixs_limit_stops_the_export_naming_group_size_and_limit()
    {
        using var dir = new TempFolder("corral-tf-");
        var cidrs = string.Join(", ", Enumerable.Range(0, AviatrixLimits.SmartGroupCidrs + 1).Select(i => $"11.{i / 65536}.{i / 256 % 256}.{i % 256}/32"));
        File.WriteAllText(dir.File("corral.yaml"), $$"""
            version: 1
            name: big
            smartGroups:
              agents: { cidrs: [10.20.1.0/24] }
              partners: { cidrs: [{{cidrs}}] }
            rules:
              - { name: r, priority: 1, source: [agents], destination: [partners], action: deny }
            """);
        var output = dir.File("infra");
        var (code, _, error) = CorralProgram.Run(dir.Path, "terraform", dir.File("corral.yaml"), "-o", output);
        Assert.Equal(Corral.Cli.CorralCommand.InputError, code);
        Assert.Contains("corral.yaml:5:", error);
        Assert.Contains("error: smart group 'partners' has 10,001 CIDRs; Aviatrix enforces at most 10,000 in a smart group", error);
        Assert.Contains("[smart-group-too-large]", error);
        Assert.False(Directory.Exists(output), "no module may be written for a policy Aviatrix cannot take");
    }

    [Fact]
    public void Large_groups_are_written_as_one_list_and_small_ones_block_by_block()
    {
        using var dir = new TempFolder("corral-tf-");
        var domains = string.Join(", ", Enumerable.Range(0, MatchExpressions.InlineLimit + 1).Select(i => $"d{i}.example.com"));
        File.WriteAllText(dir.File("corral.yaml"), $$"""
            version: 1
            name: sizes
            smartGroups:
              agents: { cidrs: [10.20.1.0/24] }
            webGroups:
              small: { domains: [a.example.com, b.example.com] }
              large: { domains: [{{domains}}] }
            rules:
              - { name: r, priority: 1, source: [agents], webGroups: [small, large], ports: [443], action: permit }
            """);
        var result = PolicyChecker.CheckFile(dir.File("corral.yaml"));
        Assert.True(result.Succeeded, string.Join("\n", result.Diagnostics));
        var web = TerraformExporter.Export(result.Compiled!).Files.Single(f => f.Key == WebGroupsFile.FileName).Value;
        Assert.Contains("    match_expressions {\n      snifilter = \"a.example.com\"\n    }\n", web);
        Assert.Contains("    dynamic \"match_expressions\" {\n      for_each = [\n        \"d0.example.com\",\n", web);
        Assert.Contains("      content {\n        snifilter = match_expressions.value\n      }\n", web);
    }
}

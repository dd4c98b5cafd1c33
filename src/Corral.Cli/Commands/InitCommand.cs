using System.CommandLine;
using Corral.Policy.Templates;

namespace Corral.Cli.Commands;

/// <summary><c>corral init --template azure-foundry</c>: writes the reference policy pack and its feed files.</summary>
internal static class InitCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var template = new Option<string>("--template") { Description = "The pack to write", DefaultValueFactory = _ => AzureFoundryTemplate.Name };
        template.AcceptOnlyFromAmong(AzureFoundryTemplate.Name);
        var agentSubnet = new Option<string>("--agent-subnet") { Description = "The hosted-agent subnet (delegated to Microsoft.App/environments)", DefaultValueFactory = _ => "10.20.1.0/24" };
        var spokeCidr = new Option<string[]>("--spoke-cidr") { Description = "An adjacent spoke's address range (repeatable)" };
        var region = new Option<string>("--region") { Description = "The Azure region of the Foundry account", DefaultValueFactory = _ => "eastus" };
        var toolFqdn = new Option<string[]>("--tool-fqdn") { Description = "An approved tool-call FQDN, e.g. an MCP server (repeatable)" };
        var mcpTool = new Option<string[]>("--mcp-tool") { Description = "An MCP tool the agent may call on the tool servers (repeatable): adds an mcp section to allow-tool-calls" };
        var watch = new Option<bool>("--watch") { Description = "Write every rule in watch mode (the default)", Hidden = true };
        var enforce = new Option<bool>("--enforce") { Description = "Write every rule enforced, skipping the watch-first step (by default every rule logs what it would do and blocks nothing until promoted)" };
        var output = new Option<string>("--output", "-o") { Description = "Where to write the policy", DefaultValueFactory = _ => "corral.yaml" };
        var force = new Option<bool>("--force") { Description = "Overwrite existing files" };

        var command = new Command("init", "Write a policy pack to start from") { template, agentSubnet, spokeCidr, region, toolFqdn, mcpTool, watch, enforce, output, force };
        command.SetAction(parse =>
        {
            if (parse.GetValue(watch) && parse.GetValue(enforce))
            {
                stderr.WriteLine("corral init: --watch and --enforce contradict each other (watch is the default)");
                return CorralCommand.UsageError;
            }
            var options = new AzureFoundryOptions
            {
                AgentSubnet = parse.GetValue(agentSubnet)!,
                SpokeCidrs = parse.GetValue(spokeCidr) is { Length: > 0 } spokes ? spokes : ["10.30.0.0/16"],
                Region = parse.GetValue(region)!.ToLowerInvariant(),
                ToolFqdns = parse.GetValue(toolFqdn) ?? [],
                McpTools = parse.GetValue(mcpTool) ?? [],
                Watch = !parse.GetValue(enforce),
            };
            var problems = AzureFoundryTemplate.Validate(options);
            if (problems.Count > 0)
            {
                foreach (var p in problems) stderr.WriteLine($"corral init: {p}");
                return CorralCommand.UsageError;
            }
            var path = parse.GetValue(output)!;
            var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
            var feeds = AzureFoundryTemplate.ThreatFeedFiles.Select(f => Path.Combine(directory, f)).ToList();
            if (!parse.GetValue(force) && File.Exists(path))
            {
                stderr.WriteLine($"corral init: {path} exists; use --force to overwrite it");
                return CorralCommand.InputError;
            }
            Directory.CreateDirectory(directory);
            File.WriteAllText(path, AzureFoundryTemplate.Render(options));
            stdout.WriteLine($"wrote {path}");
            foreach (var feed in feeds)
            {
                if (File.Exists(feed)) { stdout.WriteLine($"kept {Path.GetRelativePath(Environment.CurrentDirectory, feed)} (exists)"); continue; }
                Directory.CreateDirectory(Path.GetDirectoryName(feed)!);
                File.WriteAllText(feed, AzureFoundryTemplate.FeedFileText(feed.Contains("domains") ? "domains" : "addresses"));
                stdout.WriteLine($"wrote {Path.GetRelativePath(Environment.CurrentDirectory, feed)}");
            }
            stdout.WriteLine($"next: {CommonOptions.InvokedAs} check {path}");
            return CorralCommand.Ok;
        });
        return command;
    }
}

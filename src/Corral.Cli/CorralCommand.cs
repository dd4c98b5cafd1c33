using System.CommandLine;
using Corral.Cli.Commands;

namespace Corral.Cli;

/// <summary>The <c>corral</c> command line: exit 0 on success, 1 when the input is wrong, 2 on a usage error.</summary>
public static class CorralCommand
{
    public const int Ok = 0, InputError = 1, UsageError = 2;

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var parse = Create(stdout, stderr).Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var error in parse.Errors) stderr.WriteLine($"corral: {error.Message}");
            stderr.WriteLine($"Run '{CommonOptions.InvokedAs} --help' for usage.");
            return UsageError;
        }
        return parse.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr });
    }

    /// <summary>The command tree, for running and for checking that a documented command line parses.</summary>
    public static RootCommand Create(TextWriter stdout, TextWriter stderr)
    {
        var root = new RootCommand("Corral: contain AI agents' network egress with a policy written as code.");
        root.Subcommands.Add(InitCommand.Create(stdout, stderr));
        root.Subcommands.Add(CheckCommand.Create(stdout, stderr));
        root.Subcommands.Add(ExplainCommand.Create(stdout, stderr));
        root.Subcommands.Add(ReplayCommand.Create(stdout, stderr));
        root.Subcommands.Add(SuggestCommand.Create(stdout, stderr));
        root.Subcommands.Add(CaCommand.Create(stdout, stderr));
        root.Subcommands.Add(AgentCommand.Create(stdout, stderr));
        root.Subcommands.Add(LogCommand.Create(stdout, stderr));
        root.Subcommands.Add(GatewayCommand.Create(stderr));
        root.Subcommands.Add(TerraformCommand.Create(stdout, stderr));
        root.Subcommands.Add(LabCommand.Create(stdout, stderr));
        root.Subcommands.Add(McpCommand.Create(stdout, stderr));
        return root;
    }
}

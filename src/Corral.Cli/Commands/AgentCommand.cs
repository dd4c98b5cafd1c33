using System.CommandLine;
using Corral.Policy.Compilation;

namespace Corral.Cli.Commands;

/// <summary><c>corral agent token NAME</c>: issue an agent a token, printed once, and the policy line holding its hash.</summary>
internal static class AgentCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var command = new Command("agent", "Issue tokens for the agents the policy names");
        command.Subcommands.Add(Token(stdout, stderr));
        return command;
    }

    private static Command Token(TextWriter stdout, TextWriter stderr)
    {
        var name = new Argument<string>("NAME") { Description = "The agent's name in the policy's agents section" };
        var command = new Command("token", "Make a new token for an agent: prints the token once and the 'token-sha256' line for corral.yaml (only the hash is kept)") { name };
        command.SetAction(parse =>
        {
            var agent = parse.GetValue(name)!;
            if (!CompiledAgents.IsValidName(agent))
            {
                stderr.WriteLine($"corral agent token: '{agent}' is not an agent name (letters, digits, '.', '_' or '-', at most 128)");
                return CorralCommand.UsageError;
            }
            var token = CompiledAgents.NewToken();
            stdout.WriteLine($"token: {token}");
            stdout.WriteLine($"  (shown once and stored nowhere: give it to agent {agent} as its proxy credential, e.g.");
            stdout.WriteLine($"   HTTPS_PROXY=http://{agent}:{token}@GATEWAY:3128, or the header 'Proxy-Authorization: Bearer {token}')");
            stdout.WriteLine("policy (corral.yaml, under agents; add the hash to token-sha256's list to rotate without a gap):");
            stdout.WriteLine($"  {agent}: {{ token-sha256: {CompiledAgents.HashOf(token)}, cidrs: [AGENT-SUBNET] }}");
            return CorralCommand.Ok;
        });
        return command;
    }
}

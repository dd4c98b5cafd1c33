using System.CommandLine;
using Corral.Gateway.Mcp;

namespace Corral.Cli.Commands;

/// <summary><c>corral mcp</c>: the MCP tool pins kept next to a policy (<c>list</c>, and <c>accept SERVER</c> once reviewed).</summary>
internal static class McpCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var command = new Command("mcp", "MCP tool pins: list them, accept a server's changed tool definitions");

        var listPolicy = new Option<string>("--policy") { Description = "The policy file the pins belong to", DefaultValueFactory = _ => "corral.yaml" };
        var list = new Command("list", "List pinned MCP servers, their tools and changes waiting for review") { listPolicy };
        list.SetAction(parse => Run(stderr, parse.GetValue(listPolicy)!, pins =>
        {
            foreach (var (server, tools, pending) in pins.Snapshot())
                stdout.WriteLine($"{server}: {tools.Count} tool(s) pinned: {string.Join(", ", tools)}" +
                                 (pending.Count == 0 ? "" : $"; changed, awaiting review: {string.Join(", ", pending)}"));
            return CorralCommand.Ok;
        }));

        var server = new Argument<string>("server") { Description = "The MCP server as the flow log names it (host, or host:port when not 80/443)" };
        var acceptPolicy = new Option<string>("--policy") { Description = "The policy file the pins belong to", DefaultValueFactory = _ => "corral.yaml" };
        var accept = new Command("accept", "Accept a server's changed tool definitions as its new pins (a running gateway picks them up)") { server, acceptPolicy };
        accept.SetAction(parse => Run(stderr, parse.GetValue(acceptPolicy)!, pins =>
        {
            var name = parse.GetValue(server)!;
            var accepted = pins.Accept(name);
            if (accepted.Count == 0)
            {
                stderr.WriteLine($"corral mcp accept: {name} has no changed tools waiting for review in {pins.FilePath}");
                return CorralCommand.InputError;
            }
            stdout.WriteLine($"accepted {accepted.Count} tool change(s) of {name}: {string.Join(", ", accepted)}");
            return CorralCommand.Ok;
        }));

        command.Subcommands.Add(list);
        command.Subcommands.Add(accept);
        return command;
    }

    private static int Run(TextWriter stderr, string policy, Func<ToolPins, int> action)
    {
        var path = ToolPins.PathFor(policy);
        if (!File.Exists(path))
        {
            stderr.WriteLine($"corral mcp: no pin file {path} (the gateway writes it when a rule with pinTools first sees a tools/list answer)");
            return CorralCommand.InputError;
        }
        try
        {
            return action(new ToolPins(path));
        }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"corral mcp: {e.Message}");
            return CorralCommand.InputError;
        }
    }
}

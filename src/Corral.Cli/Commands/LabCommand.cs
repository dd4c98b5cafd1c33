using System.CommandLine;
using Corral.Lab;

namespace Corral.Cli.Commands;

/// <summary><c>corral lab</c>: replay the reference architecture's attack scenarios on this machine and report.</summary>
internal static class LabCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var json = new Option<string?>("--json") { Description = "Also write the report as JSON to FILE" };
        var markdown = new Option<string?>("--markdown") { Description = "Also write the report as Markdown to FILE" };
        var command = new Command("lab", "Replay the Foundry attack scenarios through the gateway on this machine") { json, markdown };
        command.SetAction(parse =>
        {
            LabReport report;
            try
            {
                report = new LabRunner(stdout).RunAsync().GetAwaiter().GetResult();
            }
            catch (InvalidOperationException e)
            {
                stderr.WriteLine($"corral lab: {e.Message}");
                return CorralCommand.InputError;
            }
            stdout.WriteLine();
            stdout.Write(report.ToTable());
            if (parse.GetValue(json) is { } jsonPath) { File.WriteAllText(jsonPath, report.ToJson()); stdout.WriteLine($"wrote {jsonPath}"); }
            if (parse.GetValue(markdown) is { } mdPath) { File.WriteAllText(mdPath, report.ToMarkdown()); stdout.WriteLine($"wrote {mdPath}"); }
            return report.AllPassed ? CorralCommand.Ok : CorralCommand.InputError;
        });
        return command;
    }
}

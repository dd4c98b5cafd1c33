using System.CommandLine;
using System.Runtime.InteropServices;
using Corral.Lab;

namespace Corral.Cli.Commands;

/// <summary><c>corral lab</c>: replay the reference architecture's attack scenarios on this machine and report.</summary>
internal static class LabCommand
{
    /// <summary>Exit status after Ctrl-C / SIGTERM (128 + SIGINT), once the lab has cleaned up.</summary>
    public const int Interrupted = 130;

    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var json = new Option<string?>("--json") { Description = "Also write the report as JSON to FILE" };
        var markdown = new Option<string?>("--markdown") { Description = "Also write the report as Markdown to FILE" };
        var mode = new Option<string>("--mode")
        {
            Description = "explicit: the agent uses the gateway as HTTPS_PROXY (loopback stand-ins); transparent: the agent runs in a network " +
                          "namespace whose route leads through the gateway (iptables REDIRECT; needs root, ip, iptables); both: explicit, then " +
                          "transparent, which is skipped with the reason where the machine cannot do it",
            DefaultValueFactory = _ => "both",
        };
        mode.AcceptOnlyFromAmong("both", "explicit", "transparent");
        var command = new Command("lab", "Replay the Foundry attack scenarios through the gateway on this machine (as root), in explicit and transparent mode") { json, markdown, mode };
        command.SetAction(parse =>
        {
            // AcceptOnlyFromAmong admits only the names TryParse knows.
            if (!LabModeNames.TryParse(parse.GetValue(mode)!, out var modes)) throw new InvalidOperationException($"unknown lab mode '{parse.GetValue(mode)}'");
            // Ctrl-C or SIGTERM: stop after the current step and remove the namespaces and rules; a second one ends at once.
            using var stop = new CancellationTokenSource();
            void OnSignal(PosixSignalContext c)
            {
                if (stop.IsCancellationRequested) return;
                c.Cancel = true;
                stderr.WriteLine("corral lab: interrupted; cleaning up (again to quit at once)");
                stop.Cancel();
            }
            using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
            using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
            LabReport report;
            try
            {
                report = new LabRunner(stdout).RunAsync(modes, stop.Token).GetAwaiter().GetResult();
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                stderr.WriteLine("corral lab: interrupted; cleaned up");
                return Interrupted;
            }
            catch (Exception e) when (e is InvalidOperationException or Corral.Lab.Namespaces.LabSetupException)
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

using System.CommandLine;
using System.Net;
using System.Net.Sockets;
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
        command.Subcommands.Add(StandIn(stdout, stderr));
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

    /// <summary><c>corral lab standin</c>: an HTTPS stand-in for internet hosts, to try the gateway on one machine.</summary>
    private static Command StandIn(TextWriter stdout, TextWriter stderr)
    {
        var names = new Argument<string[]>("name") { Description = "The host names it stands in for (each gets a certificate from the stand-in's own CA)", Arity = ArgumentArity.OneOrMore };
        var listen = new Option<string>("--listen") { Description = "ADDR:PORT to serve HTTPS on (port 443 as the gateway dials it: root, or net.ipv4.ip_unprivileged_port_start=443)", Required = true };
        var caOut = new Option<string>("--ca-out") { Description = "Where to write the stand-in CA's certificate (PEM), for the gateway's --upstream-ca and the client's trust", Required = true };
        var command = new Command("standin", "LAB/TRY ONLY: serve HTTPS for the given names on ADDR:PORT until stopped; each request is printed (what reached " +
                                             "the far end) and answered with JSON naming the host, method, path and body size it saw") { names, listen, caOut };
        command.SetAction(async (parse, ct) =>
        {
            if (!IPEndPoint.TryParse(parse.GetValue(listen)!, out var at))
            {
                stderr.WriteLine($"corral lab standin: --listen '{parse.GetValue(listen)}' is not ADDR:PORT");
                return CorralCommand.UsageError;
            }
            StandInSite site;
            try
            {
                site = new StandInSite(parse.GetValue(names)!, at, r =>
                {
                    lock (stdout) stdout.WriteLine($"stand-in: {r.Method} https://{r.Host}{r.Path} ({System.Text.Encoding.UTF8.GetByteCount(r.Body)} bytes of body)");
                });
            }
            catch (SocketException e)
            {
                stderr.WriteLine($"corral lab standin: cannot listen on {at}: {e.Message}" +
                                 (e.SocketErrorCode == SocketError.AccessDenied ? " (a port below 1024 needs root, or: sysctl net.ipv4.ip_unprivileged_port_start=443)" : ""));
                return CorralCommand.InputError;
            }
            await using (site)
            {
                var caPath = parse.GetValue(caOut)!;
                stdout.WriteLine($"stand-in for {string.Join(", ", parse.GetValue(names)!)} on https://{site.LocalEndPoint} (its CA: {caPath}); Ctrl-C stops it");
                stdout.Flush();
                // Written whole and last, once the stand-in listens: a script can wait for the file, then use both.
                await File.WriteAllTextAsync(caPath + ".tmp", site.CaCertificatePem, CancellationToken.None);
                File.Move(caPath + ".tmp", caPath, overwrite: true);
                using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
                using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
                try { await Task.Delay(Timeout.Infinite, stop.Token); }
                catch (OperationCanceledException) { }
            }
            return CorralCommand.Ok;
        });
        return command;
    }
}

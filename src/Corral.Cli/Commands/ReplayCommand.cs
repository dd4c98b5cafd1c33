using System.CommandLine;
using Corral.Policy.Compilation;
using Corral.Replay;

namespace Corral.Cli.Commands;

/// <summary>
/// <c>corral replay POLICY --flows FILE…</c>: decides every recorded flow again against a candidate policy and reports
/// what changes. With <c>--fail-on</c> it is a gate for a policy pull request.
/// </summary>
internal static class ReplayCommand
{
    /// <summary>The exit code when <c>--fail-on</c> finds what it was told to fail on.</summary>
    public const int GateFailed = 3;

    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var policy = CommonOptions.PolicyArgument();
        policy.Description = "The candidate policy file to decide the recorded flows against";
        var flows = CommonOptions.FlowsOption("Flow-log files written by the gateway (repeatable; .gz is read as it is; FILE also reads its rotations FILE.N … FILE.1)");
        flows.Required = true;
        var json = new Option<bool>("--json") { Description = "Print the report as JSON" };
        var markdown = new Option<bool>("--markdown") { Description = "Print the report as Markdown (for a pull-request comment)" };
        var failOn = new Option<string?>("--fail-on")
        {
            Description = $"Exit {GateFailed} when a recorded flow would change: 'permit-to-deny' (a flow that got through would be blocked) or 'any' (any change of rule, action or mode)",
        };
        failOn.AcceptOnlyFromAmong(ReplayReport.PermitToDeny, "any");
        var strict = new Option<bool>("--strict") { Description = "Stop at the first malformed line (exit 1) instead of counting and skipping it" };
        var standIns = CommonOptions.PublicStandInOption();
        var top = new Option<int>("--top") { Description = "Destinations listed per change", DefaultValueFactory = _ => 10 };
        var agent = new Option<string?>("--agent") { Description = "Only the flows of this agent (the records' \"agent\")" };
        var command = new Command("replay", """
            Decide recorded flows again against a policy and report what would change: counts per (recorded rule/action ->
            new rule/action), the top destinations of each change with first and last seen, and the flows whose
            enforcement changes (a watched deny promoted to enforce blocks what it used to let through). Uses the
            addresses in the records; nothing is resolved. Exit 0, or 3 when --fail-on trips, 1 for bad input, 2 for usage.
            """) { policy, flows, json, markdown, failOn, strict, top, standIns, agent };
        command.SetAction(parse =>
        {
            if (parse.GetValue(json) && parse.GetValue(markdown))
            {
                stderr.WriteLine("corral replay: choose one of --json and --markdown");
                return CorralCommand.UsageError;
            }
            if (!CommonOptions.TryParseStandIns(parse.GetValue(standIns), out var prefixes, out var standInError))
            {
                stderr.WriteLine($"corral replay: {standInError}");
                return CorralCommand.UsageError;
            }
            if (!CommonOptions.TryCompile("replay", parse.GetValue(policy)!, stderr, out var compiled, new CompileOptions { PublicStandIns = prefixes }))
                return CorralCommand.InputError;
            if (!TryReadFiles("replay", parse.GetValue(flows)!, stderr, out var files)) return CorralCommand.InputError;
            var malformed = new LineProblems();
            ReplayReport report;
            try
            {
                var records = new FlowLogReader(malformed, parse.GetValue(strict)).Read(files).OfAgent(parse.GetValue(agent));
                report = new Replayer(compiled.Compiled!) { Top = Math.Max(1, parse.GetValue(top)) }.Run(records, malformed);
            }
            catch (Exception e) when (e is MalformedFlowLogException or IOException or InvalidDataException)
            {
                stderr.WriteLine($"corral replay: {e.Message}");
                return CorralCommand.InputError;
            }
            if (parse.GetValue(json)) CommonOptions.WriteJson(stdout, w => ReplayReportWriter.WriteJson(w, report));
            else if (parse.GetValue(markdown)) ReplayReportWriter.WriteMarkdown(stdout, report);
            else ReplayReportWriter.WriteText(stdout, report);
            var tripped = parse.GetValue(failOn) switch
            {
                ReplayReport.PermitToDeny => report.PermitToDenyCount > 0,
                "any" => report.ChangedCount > 0,
                _ => false,
            };
            if (tripped) stderr.WriteLine($"corral replay: --fail-on {parse.GetValue(failOn)}: {(parse.GetValue(failOn) == "any" ? report.ChangedCount : report.PermitToDenyCount)} recorded flow(s) would change");
            return tripped ? GateFailed : CorralCommand.Ok;
        });
        return command;
    }

    /// <summary>Expands the flow logs (rotations included); a path that is not a file is an input error.</summary>
    public static bool TryReadFiles(string command, string[] paths, TextWriter stderr, out IReadOnlyList<string> files)
    {
        files = [];
        foreach (var path in paths)
        {
            if (!File.Exists(path))
            {
                stderr.WriteLine($"corral {command}: {path}: no such file");
                return false;
            }
        }
        files = FlowLogFiles.Expand(paths);
        return true;
    }
}

using System.CommandLine;
using System.Text;
using Corral.Policy;
using Corral.Policy.Compilation;
using Corral.Policy.Editing;
using Corral.Replay;

namespace Corral.Cli.Commands;

/// <summary>
/// <c>corral suggest [POLICY] --flows FILE… [--rule NAME]</c>: the destinations a deny rule denied (or would have, in
/// watch mode) as a proposed web-group change, with the evidence; <c>--write</c> puts it into the policy file.
/// </summary>
internal static class SuggestCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var policy = CommonOptions.PolicyArgument();
        var flows = CommonOptions.FlowsOption("Flow-log files written by the gateway (repeatable; .gz is read as it is; FILE also reads its rotations)");
        flows.Required = true;
        var rule = new Option<string?>("--rule") { Description = "Only flows this deny rule denied (or would have denied in watch mode); default: every deny" };
        var group = new Option<string?>("--group") { Description = "The web group to add to; default: that of the permit-by-name rule closest before --rule" };
        var write = new Option<bool>("--write") { Description = "Add the proposed entries to the web group in the policy file (comments and layout kept); held-back names are never written" };
        var json = new Option<bool>("--json") { Description = "Print the suggestion as JSON instead of a YAML snippet" };
        var collapseAt = new Option<int>("--collapse-at") { Description = "How many sibling names (one parent) make one '*.parent' entry instead of one entry each", DefaultValueFactory = _ => 3 };
        var strict = new Option<bool>("--strict") { Description = "Stop at the first malformed line (exit 1) instead of counting and skipping it" };
        var standIns = CommonOptions.PublicStandInOption();
        var agent = new Option<string?>("--agent") { Description = "Only the flows of this agent (the records' \"agent\")" };
        var command = new Command("suggest", """
            Turn the flows a deny rule denied (or would have denied, in watch mode) into a proposed web-group change, with
            counts, first and last seen and the source groups they came from. Sibling names collapse to '*.parent' (never
            at or above a public suffix). IP literals, very long or high-entropy labels, names seen in one flow only and
            names on a threat feed are held back for review. Prints a YAML snippet and checks it: the policy with the
            entries is compiled and the same flows decided again. Changes the policy file only with --write.
            """) { policy, flows, rule, group, write, json, collapseAt, strict, standIns, agent };
        command.SetAction(parse =>
        {
            if (!CommonOptions.TryParseStandIns(parse.GetValue(standIns), out var prefixes, out var standInError))
            {
                stderr.WriteLine($"corral suggest: {standInError}");
                return CorralCommand.UsageError;
            }
            var options = new CompileOptions { PublicStandIns = prefixes };
            var policyPath = parse.GetValue(policy)!;
            if (!CommonOptions.TryCompile("suggest", policyPath, stderr, out var result, options)) return CorralCommand.InputError;
            var compiled = result.Compiled!;
            var ruleName = parse.GetValue(rule);
            if (ruleName is not null && compiled.FindRule(ruleName) is null)
            {
                stderr.WriteLine($"corral suggest: {policyPath} has no rule named '{ruleName}'");
                return CorralCommand.InputError;
            }
            if (ruleName is not null && compiled.FindRule(ruleName)!.Action != Policy.Model.RuleAction.Deny)
            {
                stderr.WriteLine($"corral suggest: rule '{ruleName}' permits; suggest works from the flows a deny rule denies");
                return CorralCommand.InputError;
            }
            var suggester = new Suggester(compiled, PublicSuffixList.Load()) { CollapseAt = Math.Max(2, parse.GetValue(collapseAt)) };
            var webGroup = parse.GetValue(group) ?? suggester.DefaultWebGroup(ruleName);
            if (webGroup is null || compiled.Document.WebGroups.All(g => g.Name != webGroup))
            {
                stderr.WriteLine(webGroup is null
                    ? "corral suggest: no permit rule with web groups comes before that rule; name the web group with --group"
                    : $"corral suggest: {policyPath} has no web group named '{webGroup}'");
                return CorralCommand.InputError;
            }
            if (!ReplayCommand.TryReadFiles("suggest", parse.GetValue(flows)!, stderr, out var files)) return CorralCommand.InputError;
            var malformed = new LineProblems();
            Suggestion suggestion;
            try
            {
                suggestion = suggester.Run(new FlowLogReader(malformed, parse.GetValue(strict)).Read(files).OfAgent(parse.GetValue(agent)), ruleName, webGroup, malformed);
            }
            catch (Exception e) when (e is MalformedFlowLogException or IOException or InvalidDataException)
            {
                stderr.WriteLine($"corral suggest: {e.Message}");
                return CorralCommand.InputError;
            }
            if (parse.GetValue(json)) CommonOptions.WriteJson(stdout, w => SuggestionWriter.WriteJson(w, suggestion));
            else SuggestionWriter.WriteYaml(stdout, suggestion);
            if (suggestion.Entries.Count == 0) return CorralCommand.Ok;

            // The proposal applied to the file's text, compiled and checked against the same flows: what it would let through.
            var text = File.ReadAllText(policyPath);
            var (edited, editError) = PolicyEditor.AddWebGroupDomains(policyPath, text, webGroup, suggestion.Entries.Select(e => e.Domain).ToList());
            if (edited is null)
            {
                stderr.WriteLine($"corral suggest: {editError}");
                return CorralCommand.InputError;
            }
            var editedResult = PolicyChecker.CheckText(policyPath, edited, Path.GetDirectoryName(Path.GetFullPath(policyPath))!, options: options);
            if (!editedResult.Succeeded)
            {
                CommonOptions.WriteDiagnostics(stderr, editedResult.Diagnostics.Where(d => d.IsError));
                stderr.WriteLine("corral suggest: the policy with these entries does not compile; nothing written");
                return CorralCommand.InputError;
            }
            var (permitted, selected, stillDenied) = suggester.Check(new FlowLogReader(new LineProblems()).Read(files).OfAgent(parse.GetValue(agent)), ruleName, editedResult.Compiled!, suggestion);
            var report = parse.GetValue(json) ? stderr : stdout;
            report.WriteLine($"# With these entries {permitted} of {selected} of those flows would be permitted.");
            foreach (var (name, by) in stillDenied.OrderBy(p => p.Key, StringComparer.Ordinal))
                report.WriteLine($"#   still denied: {name} (by {by}: the web group alone does not permit it — check the source, port or address)");
            if (parse.GetValue(write))
            {
                File.WriteAllText(policyPath, edited, new UTF8Encoding(false));
                report.WriteLine($"# Wrote {suggestion.Entries.Count} entr{(suggestion.Entries.Count == 1 ? "y" : "ies")} to web group '{webGroup}' in {policyPath}; run '{CommonOptions.InvokedAs} check' and '{CommonOptions.InvokedAs} replay' before shipping it.");
            }
            return CorralCommand.Ok;
        });
        return command;
    }
}

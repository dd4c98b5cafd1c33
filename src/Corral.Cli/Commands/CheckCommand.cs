using System.CommandLine;
using System.Text.Json;
using Corral.Policy;
using Corral.Policy.Linting;

namespace Corral.Cli.Commands;

/// <summary><c>corral check</c>: validate and lint a policy; errors as FILE:LINE:COL: error: ….</summary>
internal static class CheckCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var policy = CommonOptions.PolicyArgument();
        var json = new Option<bool>("--json") { Description = "Print the diagnostics as JSON" };
        var strict = new Option<bool>("--strict") { Description = "Treat warnings as errors" };
        var command = new Command("check", "Validate and lint a policy") { policy, json, strict };
        command.SetAction(parse =>
        {
            var path = parse.GetValue(policy)!;
            var result = PolicyChecker.CheckFile(path, parse.GetValue(strict));
            if (parse.GetValue(json))
            {
                WriteJson(stdout, path, result);
            }
            else
            {
                CommonOptions.WriteDiagnostics(result.Succeeded ? stdout : stderr, result.Diagnostics);
                var summary = result.Succeeded
                    ? $"{path}: ok: {result.Compiled!.Rules.Count} rules, {result.WarningCount} warning(s)"
                    : $"{path}: {result.ErrorCount} error(s), {result.WarningCount} warning(s)";
                (result.Succeeded ? stdout : stderr).WriteLine(summary);
                if (result.Diagnostics.FirstOrDefault(d => LintCatalog.Find(d.Code) is not null) is { } explained)
                    (result.Succeeded ? stdout : stderr).WriteLine($"why a warning matters and what to weigh: {CommonOptions.InvokedAs} explain --lint CODE (e.g. {explained.Code})");
            }
            return result.Succeeded ? CorralCommand.Ok : CorralCommand.InputError;
        });
        return command;
    }

    private static void WriteJson(TextWriter stdout, string path, CheckResult result)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteString("file", path);
            w.WriteBoolean("ok", result.Succeeded);
            w.WriteNumber("errors", result.ErrorCount);
            w.WriteNumber("warnings", result.WarningCount);
            if (result.Compiled is { } compiled)
            {
                w.WriteNumber("rules", compiled.Rules.Count);
                w.WriteString("hash", compiled.Hash);
            }
            w.WriteStartArray("diagnostics");
            foreach (var d in result.Diagnostics.Select(CommonOptions.AsInvoked))
            {
                w.WriteStartObject();
                w.WriteString("severity", d.IsError ? "error" : "warning");
                w.WriteString("code", d.Code);
                w.WriteString("file", d.Location.File);
                w.WriteNumber("line", d.Location.Line);
                w.WriteNumber("column", d.Location.Column);
                w.WriteString("message", d.Message);
                if (d.Hint is not null) w.WriteString("hint", d.Hint);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        stdout.WriteLine(System.Text.Encoding.UTF8.GetString(stream.ToArray()));
    }
}

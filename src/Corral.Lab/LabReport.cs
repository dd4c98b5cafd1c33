using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Corral.Lab;

/// <summary>How a scenario ended: as expected, not as expected, or not applicable in its mode (with the reason as its observation).</summary>
public enum ScenarioOutcome { Pass, Fail, NotApplicable }

/// <summary>One scenario's outcome in one mode: what was expected, what was observed, what decided it, and what reached the far end.</summary>
public sealed record ScenarioResult(
    int Number,
    string Id,
    string Title,
    string Mode,
    string Expected,
    string Observed,
    string? DecidingRule,
    bool Decrypted,
    IReadOnlyList<string> Owasp,
    long BytesAtFarEnd,
    ScenarioOutcome Outcome,
    string? Detail = null)
{
    public bool Passed => Outcome == ScenarioOutcome.Pass;

    public string OutcomeText => Outcome switch { ScenarioOutcome.Pass => "pass", ScenarioOutcome.Fail => "FAIL", _ => "n/a" };
}

/// <summary>
/// One pass of the lab in one mode: its results, why it was skipped (the machine cannot do it), or the error that
/// stopped it. A pass that was asked for by name is <paramref name="Required"/>: its skip fails the lab; the
/// transparent half of the default "both" is not.
/// </summary>
public sealed record LabPass(LabMode Mode, string Description, TimeSpan Duration, IReadOnlyList<ScenarioResult> Scenarios, IReadOnlyList<string> Notes,
    string? SkippedBecause = null, bool Required = true, string? Error = null)
{
    public bool Skipped => SkippedBecause is not null;

    /// <summary>Ran with no scenario deviating and at least one passing, or skipped where that is allowed.</summary>
    public bool Succeeded => Skipped
        ? !Required
        : Error is null && Scenarios.Count > 0 && Scenarios.All(s => s.Outcome != ScenarioOutcome.Fail) && Scenarios.Any(s => s.Passed);

    public string Summary => Skipped
        ? $"{Mode.Name()}: skipped ({SkippedBecause})"
        : Error is not null
        ? $"{Mode.Name()}: FAILED ({Error})"
        : $"{Mode.Name()}: {Scenarios.Count(s => s.Passed)}/{Scenarios.Count} scenarios passed" +
          (Scenarios.Any(s => s.Outcome == ScenarioOutcome.NotApplicable) ? $", {Scenarios.Count(s => s.Outcome == ScenarioOutcome.NotApplicable)} n/a" : "") +
          $" ({Description}, {Duration.TotalSeconds:F1} s)";
}

/// <summary>The lab's report: a terminal table per pass, JSON and Markdown of the same results.</summary>
public sealed record LabReport(DateTimeOffset StartedAt, TimeSpan Duration, IReadOnlyList<LabPass> Passes)
{
    public bool AllPassed => Passes.Count > 0 && Passes.All(p => p.Succeeded) && Passes.Any(p => !p.Skipped);

    public IEnumerable<ScenarioResult> Scenarios => Passes.SelectMany(p => p.Scenarios);

    public LabPass? Pass(LabMode mode) => Passes.FirstOrDefault(p => p.Mode == mode);

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public string ToJson() => JsonSerializer.Serialize(new
    {
        startedAt = StartedAt,
        durationSeconds = Math.Round(Duration.TotalSeconds, 2),
        passed = AllPassed,
        passes = Passes.Select(p => new
        {
            mode = p.Mode.Name(),
            description = p.Description,
            status = p.Skipped ? "skipped" : p.Error is not null ? "error" : "ran",
            skippedBecause = p.SkippedBecause,
            error = p.Error,
            succeeded = p.Succeeded,
            durationSeconds = Math.Round(p.Duration.TotalSeconds, 2),
            notes = p.Notes,
        }),
        scenarios = Scenarios.Select(s => new
        {
            mode = s.Mode, number = s.Number, id = s.Id, title = s.Title, expected = s.Expected, observed = s.Observed,
            decidingRule = s.DecidingRule, decrypted = s.Decrypted, owasp = s.Owasp, bytesAtFarEnd = s.BytesAtFarEnd,
            result = s.Outcome switch { ScenarioOutcome.Pass => "pass", ScenarioOutcome.Fail => "fail", _ => "n/a" },
            passed = s.Passed, detail = s.Detail,
        }),
    }, Json);

    public string ToMarkdown()
    {
        var sb = new StringBuilder();
        sb.AppendLine("# Corral lab report").AppendLine();
        sb.AppendLine($"{StartedAt:u}, {Duration.TotalSeconds:F1} s: **{(AllPassed ? "every scenario passed" : "FAILED")}**.").AppendLine();
        foreach (var p in Passes)
        {
            sb.AppendLine($"## {p.Mode.Name()} mode").AppendLine();
            if (p.Skipped)
            {
                sb.AppendLine($"Skipped: {Md(p.SkippedBecause!)}").AppendLine();
                continue;
            }
            if (p.Error is not null) sb.AppendLine($"**Error:** {Md(p.Error)}").AppendLine();
            sb.AppendLine($"{Md(p.Summary)}.").AppendLine();
            sb.AppendLine("| # | scenario | expected | observed | deciding rule | decrypted | OWASP LLM 2025 | bytes at far end | result |");
            sb.AppendLine("|---|---|---|---|---|---|---|---|---|");
            foreach (var s in p.Scenarios)
                sb.AppendLine($"| {s.Number} | {Md(s.Title)} | {Md(s.Expected)} | {Md(s.Observed)} | {s.DecidingRule ?? "—"} | {(s.Decrypted ? "yes" : "no")} | " +
                              $"{(s.Owasp.Count == 0 ? "—" : string.Join(", ", s.Owasp))} | {s.BytesAtFarEnd} | {(s.Outcome == ScenarioOutcome.Fail ? "**FAIL**" : s.OutcomeText)} |");
            if (p.Notes.Count > 0)
            {
                sb.AppendLine();
                foreach (var n in p.Notes) sb.AppendLine($"- {Md(n)}");
            }
            sb.AppendLine();
        }
        return sb.ToString();
    }

    public string ToTable()
    {
        var sb = new StringBuilder();
        foreach (var p in Passes)
        {
            sb.AppendLine($"== {p.Mode.Name()} mode ==");
            if (p.Skipped)
            {
                sb.AppendLine($"skipped: {p.SkippedBecause}").AppendLine();
                continue;
            }
            if (p.Error is not null) sb.AppendLine($"ERROR: {p.Error}");
            string[] header = ["#", "scenario", "expected", "observed", "rule", "decrypted", "OWASP", "far-end bytes", "result"];
            var rows = p.Scenarios.Select(s => new[]
            {
                s.Number.ToString(), s.Title, s.Expected, s.Observed, s.DecidingRule ?? "-", s.Decrypted ? "yes" : "no",
                s.Owasp.Count == 0 ? "-" : string.Join(",", s.Owasp), s.BytesAtFarEnd.ToString(), s.OutcomeText,
            }).ToList();
            var widths = header.Select((h, i) => Math.Min(40, Math.Max(h.Length, rows.Count == 0 ? 0 : rows.Max(r => r[i].Length)))).ToArray();
            void Row(string[] cells) => sb.AppendLine(string.Join("  ", cells.Select((c, i) => Fit(c, widths[i]).PadRight(widths[i]))).TrimEnd());
            Row(header);
            Row(widths.Select(w => new string('-', w)).ToArray());
            foreach (var r in rows) Row(r);
            foreach (var s in p.Scenarios.Where(s => s.Outcome != ScenarioOutcome.Pass))
                sb.AppendLine($"{s.OutcomeText} #{s.Number}: {s.Observed}");
            foreach (var n in p.Notes) sb.AppendLine($"note: {n}");
            sb.AppendLine();
        }
        foreach (var p in Passes) sb.AppendLine(p.Summary);
        sb.AppendLine(AllPassed ? $"lab passed ({Duration.TotalSeconds:F1} s)" : $"lab FAILED ({Duration.TotalSeconds:F1} s)");
        return sb.ToString();
    }

    private static string Fit(string s, int width) => s.Length <= width ? s : s[..(width - 1)] + "…";

    private static string Md(string s) => s.Replace("|", "\\|");
}

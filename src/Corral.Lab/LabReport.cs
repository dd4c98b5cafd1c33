using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Corral.Lab;

/// <summary>One scenario's outcome: what was expected, what was observed, what decided it, and what reached the far end.</summary>
public sealed record ScenarioResult(
    int Number,
    string Id,
    string Title,
    string Expected,
    string Observed,
    string? DecidingRule,
    bool Decrypted,
    IReadOnlyList<string> Owasp,
    long BytesAtFarEnd,
    bool Passed,
    string? Detail = null);

/// <summary>The lab's report: a terminal table, JSON and Markdown of the same results.</summary>
public sealed record LabReport(DateTimeOffset StartedAt, TimeSpan Duration, string Mode, IReadOnlyList<ScenarioResult> Scenarios, IReadOnlyList<string> Notes)
{
    public bool AllPassed => Scenarios.Count > 0 && Scenarios.All(s => s.Passed);

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
        mode = Mode,
        passed = AllPassed,
        scenarios = Scenarios,
        notes = Notes,
    }, Json);

    public string ToMarkdown()
    {
        var sb = new StringBuilder();
        sb.AppendLine($"# Corral lab report ({Mode})").AppendLine();
        sb.AppendLine($"{StartedAt:u}, {Duration.TotalSeconds:F1} s: **{Scenarios.Count(s => s.Passed)}/{Scenarios.Count} scenarios passed**.").AppendLine();
        sb.AppendLine("| # | scenario | expected | observed | deciding rule | decrypted | OWASP LLM 2025 | bytes at far end | result |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var s in Scenarios)
            sb.AppendLine($"| {s.Number} | {Md(s.Title)} | {Md(s.Expected)} | {Md(s.Observed)} | {s.DecidingRule ?? "—"} | {(s.Decrypted ? "yes" : "no")} | " +
                          $"{(s.Owasp.Count == 0 ? "—" : string.Join(", ", s.Owasp))} | {s.BytesAtFarEnd} | {(s.Passed ? "pass" : "**FAIL**")} |");
        if (Notes.Count > 0)
        {
            sb.AppendLine();
            foreach (var n in Notes) sb.AppendLine($"- {Md(n)}");
        }
        return sb.ToString();
    }

    public string ToTable()
    {
        string[] header = ["#", "scenario", "expected", "observed", "rule", "decrypted", "OWASP", "far-end bytes", "result"];
        var rows = Scenarios.Select(s => new[]
        {
            s.Number.ToString(), s.Title, s.Expected, s.Observed, s.DecidingRule ?? "-", s.Decrypted ? "yes" : "no",
            s.Owasp.Count == 0 ? "-" : string.Join(",", s.Owasp), s.BytesAtFarEnd.ToString(), s.Passed ? "pass" : "FAIL",
        }).ToList();
        var widths = header.Select((h, i) => Math.Min(40, Math.Max(h.Length, rows.Count == 0 ? 0 : rows.Max(r => r[i].Length)))).ToArray();
        var sb = new StringBuilder();
        void Row(string[] cells) => sb.AppendLine(string.Join("  ", cells.Select((c, i) => Fit(c, widths[i]).PadRight(widths[i]))).TrimEnd());
        Row(header);
        Row(widths.Select(w => new string('-', w)).ToArray());
        foreach (var r in rows) Row(r);
        sb.AppendLine().AppendLine($"{Scenarios.Count(s => s.Passed)}/{Scenarios.Count} scenarios passed ({Mode}, {Duration.TotalSeconds:F1} s)");
        foreach (var n in Notes) sb.AppendLine($"note: {n}");
        return sb.ToString();
    }

    private static string Fit(string s, int width) => s.Length <= width ? s : s[..(width - 1)] + "…";

    private static string Md(string s) => s.Replace("|", "\\|");
}

using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using Corral.Gateway.FlowLog;
using Corral.Gateway.Reload;
using Corral.Replay;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Corral.Admin.Api;

/// <summary>
/// <c>GET /api/rules/{name}/impact?window=SECONDS&amp;top=N</c>: what enforcing a rule would change over the flows the
/// gateway remembers (or those of the last SECONDS): the same computation as <c>corral replay</c>, against the policy
/// in force with that rule enforced. Read-only.
/// </summary>
internal static class ImpactApi
{
    private static readonly JsonWriterOptions JsonOptions = new() { Encoder = JavaScriptEncoder.Default };

    public static void Map(WebApplication app, RecentFlows flows, PolicyReloader reloader)
    {
        app.MapGet("/api/rules/{name}/impact", async (HttpContext context, string name, double? window, int? top) =>
        {
            if (window is <= 0 or > 366 * 86400 || (window is { } w && !double.IsFinite(w)))
            {
                await Problem.Of(StatusCodes.Status400BadRequest, "window must be a number of seconds, more than 0 and at most a year").ExecuteAsync(context).ConfigureAwait(false);
                return;
            }
            var current = reloader.Target.Current;
            var rule = current.FindRule(name);
            if (rule is null)
            {
                await Problem.Of(StatusCodes.Status404NotFound, $"no rule named '{name}'").ExecuteAsync(context).ConfigureAwait(false);
                return;
            }
            var (enforced, error) = RuleImpact.Enforced(current, reloader.PolicyPath, name, reloader.Options);
            if (enforced is null)
            {
                await Problem.Of(StatusCodes.Status409Conflict, error!).ExecuteAsync(context).ConfigureAwait(false);
                return;
            }
            var since = window is { } seconds ? DateTimeOffset.UtcNow.AddSeconds(-seconds) : DateTimeOffset.MinValue;
            var remembered = flows.Snapshot(flows.Capacity, r => r.Time >= since);
            var problems = new LineProblems();
            var report = new Replayer(enforced) { Top = Math.Clamp(top ?? 10, 1, 100) }.Run(RememberedFlows.AsRecorded(remembered, problems), problems);
            context.Response.ContentType = "application/json; charset=utf-8";
            await using var json = new Utf8JsonWriter(context.Response.BodyWriter, JsonOptions);
            json.WriteStartObject();
            json.WriteString("rule", name);
            json.WriteString("mode", rule.Mode == Policy.Model.RuleMode.Watch ? "watch" : "enforce");
            json.WriteString("action", rule.Action == Policy.Model.RuleAction.Permit ? "permit" : "deny");
            if (window is { } s) json.WriteNumber("window_seconds", s); else json.WriteNull("window_seconds");
            json.WriteNumber("remembered", remembered.Count);
            json.WriteNumber("capacity", flows.Capacity);
            json.WritePropertyName("replay");
            ReplayReportWriter.WriteJson(json, report);
            json.WriteEndObject();
            await json.FlushAsync(context.RequestAborted).ConfigureAwait(false);
        });
    }
}

/// <summary>
/// The gateway's in-memory records as replay reads them: each is written as its flow-log line and read back by the
/// flow-log reader, so a rule's impact and <c>corral replay</c> over the same records are one computation.
/// </summary>
internal static class RememberedFlows
{
    public static IEnumerable<RecordedFlow> AsRecorded(IReadOnlyList<FlowRecord> newestFirst, LineProblems problems)
    {
        var reader = new FlowLogReader(problems);
        var line = new ArrayBufferWriter<byte>(1024);
        for (var i = newestFirst.Count - 1; i >= 0; i--)
        {
            line.ResetWrittenCount();
            using (var json = new Utf8JsonWriter(line, JsonOptions)) FlowRecordJson.Write(json, newestFirst[i]);
            if (reader.Parse("memory", newestFirst.Count - i, line.WrittenSpan) is { } recorded) yield return recorded;
        }
    }

    private static readonly JsonWriterOptions JsonOptions = new() { Encoder = JavaScriptEncoder.Default };
}

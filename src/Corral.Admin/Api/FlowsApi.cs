using System.Text.Encodings.Web;
using System.Text.Json;
using Corral.Gateway.FlowLog;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Corral.Admin.Api;

/// <summary><c>GET /api/flows?rule=&amp;action=&amp;host=&amp;enforced=&amp;limit=</c>: recent decisions, newest first, in the flow-log line shape.</summary>
internal static class FlowsApi
{
    private static readonly JsonWriterOptions JsonOptions = new() { Encoder = JavaScriptEncoder.Default };

    public static void Map(WebApplication app, RecentFlows flows, int maxFlows)
    {
        app.MapGet("/api/flows", async (HttpContext context, string? rule, string? action, string? host, string? enforced, int? limit) =>
        {
            if (action is not null and not ("permit" or "deny"))
            {
                await Problem.Of(StatusCodes.Status400BadRequest, "action must be permit or deny").ExecuteAsync(context).ConfigureAwait(false);
                return;
            }
            if (enforced is not null and not ("true" or "false"))
            {
                await Problem.Of(StatusCodes.Status400BadRequest, "enforced must be true or false").ExecuteAsync(context).ConfigureAwait(false);
                return;
            }
            var take = Math.Clamp(limit ?? 100, 1, maxFlows);
            var records = flows.Snapshot(take, r =>
            {
                var denied = r.Refusal is not null || r.Verdict is not { Action: Policy.Model.RuleAction.Permit };
                var isEnforced = r.Refusal is not null || r.Verdict is not { Enforced: false };
                return RecentFlows.HasOwnOutcome(r)
                    && (rule is null || r.Verdict?.Rule?.Name == rule)
                    && (action is null || (action == "deny") == denied)
                    && (enforced is null || (enforced == "true") == isEnforced)
                    && (host is null || (r.Host?.Contains(host, StringComparison.OrdinalIgnoreCase) ?? false));
            });
            context.Response.ContentType = "application/json; charset=utf-8";
            await using var json = new Utf8JsonWriter(context.Response.BodyWriter, JsonOptions);
            json.WriteStartObject();
            json.WriteNumber("total", flows.Written);
            json.WriteStartArray("flows");
            foreach (var record in records) FlowRecordJson.Write(json, record);
            json.WriteEndArray();
            json.WriteEndObject();
            await json.FlushAsync(context.RequestAborted).ConfigureAwait(false);
        });
    }
}

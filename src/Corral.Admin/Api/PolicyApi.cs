using System.Text;
using System.Text.Json;
using Corral.Gateway.Reload;
using Corral.Policy.Diagnostics;
using Corral.Policy.Model;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Corral.Admin.Api;

/// <summary><c>GET/PUT /api/policy</c> and <c>POST /api/rules/{name}/mode</c>.</summary>
internal static class PolicyApi
{
    public static void Map(WebApplication app, PolicyReloader reloader, AdminToken? token, ILogger logger)
    {
        app.MapGet("/api/policy", () => Results.Json(Summary(reloader)));

        app.MapPut("/api/policy", async (HttpContext context) =>
        {
            if (Auth.Refusal(context, token) is { } refused) return refused;
            var (text, bad) = await ReadBodyAsync(context).ConfigureAwait(false);
            if (bad is not null) return bad;
            var outcome = await reloader.ApplyTextAsync(text!, context.RequestAborted).ConfigureAwait(false);
            if (!outcome.Applied)
                return Problem.Of(StatusCodes.Status422UnprocessableEntity, "the policy does not compile; the policy in force is unchanged", Diagnostics(outcome.Diagnostics));
            logger.PolicyPut(outcome.Hash, context.Connection.RemoteIpAddress);
            return Results.Json(new { outcome.Hash, outcome.Changed, outcome.Drift, warnings = Diagnostics(outcome.Diagnostics) });
        });

        app.MapPost("/api/rules/{name}/mode", async (HttpContext context, string name) =>
        {
            if (Auth.Refusal(context, token) is { } refused) return refused;
            var (text, bad) = await ReadBodyAsync(context).ConfigureAwait(false);
            if (bad is not null) return bad;
            var word = ModeWord(text!, context.Request.Query["mode"]);
            RuleMode mode;
            if (word == "watch") mode = RuleMode.Watch;
            else if (word == "enforce") mode = RuleMode.Enforce;
            else return Problem.Of(StatusCodes.Status400BadRequest, "mode must be \"watch\" or \"enforce\" (body {\"mode\":\"enforce\"}, the bare word, or ?mode=)");
            var (result, outcome, error) = await reloader.SetRuleModeAsync(name, mode, context.RequestAborted).ConfigureAwait(false);
            return result switch
            {
                ModeChangeResult.UnknownRule => Problem.Of(StatusCodes.Status404NotFound, error!),
                ModeChangeResult.Failed => Problem.Of(StatusCodes.Status422UnprocessableEntity, error!, outcome is null ? null : Diagnostics(outcome.Diagnostics)),
                _ => Log(Results.Json(new { rule = name, mode = word, outcome!.Hash, outcome.Changed, outcome.Drift })),
            };
            IResult Log(IResult r)
            {
                if (outcome!.Changed) logger.RuleModeSet(name, word, context.Connection.RemoteIpAddress);
                else logger.RuleModeUnchanged(name, word, context.Connection.RemoteIpAddress);
                return r;
            }
        });
    }

    private static string? ModeWord(string body, string? query)
    {
        if (!string.IsNullOrEmpty(query)) return query;
        var trimmed = body.Trim();
        if (trimmed.StartsWith('{'))
        {
            try
            {
                using var json = JsonDocument.Parse(trimmed);
                return json.RootElement.ValueKind == JsonValueKind.Object && json.RootElement.TryGetProperty("mode", out var m) && m.ValueKind == JsonValueKind.String
                    ? m.GetString() : null;
            }
            catch (JsonException) { return null; }
        }
        return trimmed.Trim('"');
    }

    /// <summary>Reads the body as UTF-8 within Kestrel's size limit; an oversized body is a 413, never a crash.</summary>
    private static async Task<(string? Text, IResult? Refusal)> ReadBodyAsync(HttpContext context)
    {
        var limit = context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize;
        if (limit is { } max && context.Request.ContentLength > max)
            return (null, Problem.Of(StatusCodes.Status413PayloadTooLarge, $"request body larger than {max} bytes"));
        try
        {
            using var reader = new StreamReader(context.Request.Body, new UTF8Encoding(false, throwOnInvalidBytes: true), detectEncodingFromByteOrderMarks: false);
            return (await reader.ReadToEndAsync(context.RequestAborted).ConfigureAwait(false), null);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, Problem.Of(StatusCodes.Status413PayloadTooLarge, $"request body larger than {limit} bytes"));
        }
        catch (DecoderFallbackException)
        {
            return (null, Problem.Of(StatusCodes.Status400BadRequest, "request body is not UTF-8 text"));
        }
    }

    private static object[] Diagnostics(IReadOnlyList<Diagnostic> diagnostics) =>
        diagnostics.Select(d => (object)new
        {
            severity = d.IsError ? "error" : "warning", d.Code, location = d.Location.ToString(), d.Message, d.Hint, text = d.ToString(),
        }).ToArray();

    private static object Summary(PolicyReloader reloader)
    {
        var status = reloader.Status;
        var document = reloader.Target.Current.Document;
        return new
        {
            name = status.PolicyName,
            hash = status.Hash,
            loadedAt = status.LoadedAt,
            source = status.Source.ToString().ToLowerInvariant(),
            path = reloader.PolicyPath,
            reloads = status.Reloads,
            failures = status.Failures,
            failing = status.Failing,
            lastError = status.LastError is { } e
                ? new { at = e.At, source = e.Source.ToString().ToLowerInvariant(), message = e.Message, diagnostics = Diagnostics(e.Diagnostics) }
                : null,
            drift = status.Drift,
            defaultAction = document.DefaultAction == RuleAction.Permit ? "permit" : "deny",
            inputFiles = document.InputFiles,
            rules = document.RulesInOrder.Select(r => new
            {
                name = r.Name, priority = r.Priority, action = r.Action == RuleAction.Permit ? "permit" : "deny", mode = r.Mode == RuleMode.Watch ? "watch" : "enforce",
            }).ToArray(),
        };
    }
}

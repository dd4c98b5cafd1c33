using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Corral.Gateway.Observability;

/// <summary>
/// The gateway's traces: one span per flow (<see cref="FlowTrace"/>) with child spans for the decision, DNS, the
/// upstream dial, TLS interception and each HTTP request. Spans come from one static readonly
/// <see cref="ActivitySource"/> — the .NET pattern: listeners (an OpenTelemetry TracerProvider) subscribe to it by
/// name, and it holds no state of ours. With no listener, <see cref="Enabled"/> is false, nothing is started and
/// nothing is allocated on the flow path. Attribute names follow the OpenTelemetry semantic conventions; Corral's own
/// are under <c>corral.</c> (docs/flow-log.md, "Traces").
/// </summary>
public static class FlowTracing
{
    /// <summary>The ActivitySource's name: what a TracerProvider adds to export the gateway's spans.</summary>
    public const string SourceName = "Corral.Gateway";

    internal static readonly ActivitySource Source = new(SourceName, typeof(FlowTracing).Assembly.GetName().Version?.ToString(3));

    /// <summary>Whether anything listens (tracing is on); checked before any span work.</summary>
    internal static bool Enabled => Source.HasListeners();

    /// <summary>
    /// A connection refused at accept (connection limit, flow log down): a flow span of its own, already ended, with
    /// the refusal, so every refusal in the flow log has its span.
    /// </summary>
    internal static void AcceptRefused(string flowId, string listener, IPEndPoint source, string check, string reason)
    {
        if (!Enabled) return;
        Activity.Current = null;
        using var span = Source.StartActivity(FlowTrace.SpanName, ActivityKind.Server);
        if (span is null) return;
        FlowTrace.TagStart(span, flowId, listener, source);
        span.SetTag("corral.action", "deny");
        span.SetTag("corral.enforced", true);
        span.SetTag("corral.check", check);
        span.SetStatus(ActivityStatusCode.Error, $"{check}: {reason}");
    }

    /// <summary>
    /// One query to the gateway's resolver: a <c>corral.dns.query</c> span of its own, already ended, with the same
    /// flow id as its <c>dns</c> record, so a refused query is in the trace backend as it is in the flow log. It starts
    /// when the upstream was asked (<paramref name="upstreamMs"/> before now), else now: the rest is microseconds.
    /// </summary>
    internal static void DnsQuery(string flowId, IPEndPoint source, string transport, string? name, string type, string code, bool answered,
        string? rule, string? check, string reason, double? upstreamMs)
    {
        if (!Enabled) return;
        Activity.Current = null;
        var now = DateTimeOffset.UtcNow;
        using var span = Source.StartActivity("corral.dns.query", ActivityKind.Server, parentContext: default,
            startTime: upstreamMs is { } ms ? now.AddMilliseconds(-ms) : now);
        if (span is null) return;
        span.SetTag("corral.flow.id", flowId);
        span.SetTag("corral.listener", "dns");
        span.SetTag("client.address", source.Address.ToString());
        span.SetTag("client.port", source.Port);
        span.SetTag("network.transport", transport);
        if (name is not null) span.SetTag("dns.question.name", name);
        if (type.Length > 0) span.SetTag("corral.dns.type", type);
        span.SetTag("corral.dns.rcode", code);
        if (check is null) span.SetTag("corral.rule", rule ?? "(default-action)");
        else span.SetTag("corral.check", check);
        span.SetTag("corral.action", answered ? "permit" : "deny");
        if (!answered || check is not null) span.SetStatus(ActivityStatusCode.Error, check is null ? reason : $"{check}: {reason}");
    }

    /// <summary>
    /// Dials through <paramref name="dial"/> inside a <c>corral.dial</c> span (network.peer.*; status Error when the
    /// dial fails). Called only when <see cref="Enabled"/>.
    /// </summary>
    internal static async Task<Socket> TraceDialAsync(IPEndPoint endpoint, Func<Task<Socket>> dial)
    {
        using var span = Source.StartActivity("corral.dial", ActivityKind.Client);
        span?.SetTag("network.transport", "tcp");
        span?.SetTag("network.peer.address", endpoint.Address.ToString());
        span?.SetTag("network.peer.port", endpoint.Port);
        try
        {
            var socket = await dial().ConfigureAwait(false);
            if (span is not null && socket.LocalEndPoint is IPEndPoint local)
            {
                span.SetTag("network.local.address", local.Address.ToString());
                span.SetTag("network.local.port", local.Port);
            }
            return socket;
        }
        catch (Exception e)
        {
            span?.SetTag("error.type", e.GetType().FullName);
            span?.SetStatus(ActivityStatusCode.Error, e.Message);
            throw;
        }
    }

    /// <summary>The method as semantic conventions want it: a known method as is, anything else <c>_OTHER</c>.</summary>
    internal static string Method(string method) => method switch
    {
        "GET" or "HEAD" or "POST" or "PUT" or "DELETE" or "CONNECT" or "OPTIONS" or "TRACE" or "PATCH" => method,
        _ => "_OTHER",
    };

    /// <summary>
    /// A URL with every query value replaced by <c>REDACTED</c> (keys kept): traces travel further than the flow
    /// log, and query strings carry signatures and tokens.
    /// </summary>
    internal static string RedactQuery(string url)
    {
        var q = url.IndexOf('?', StringComparison.Ordinal);
        return q < 0 ? url : url[..(q + 1)] + RedactedQuery(url[(q + 1)..]);
    }

    /// <summary>A query (without its '?') with every value replaced by <c>REDACTED</c>.</summary>
    internal static string RedactedQuery(string query) =>
        string.Join('&', query.Split('&').Select(p => p.IndexOf('=', StringComparison.Ordinal) is var e and >= 0 ? p[..(e + 1)] + "REDACTED" : p));
}

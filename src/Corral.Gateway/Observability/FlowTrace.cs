using System.Diagnostics;
using System.Net;
using System.Net.Security;
using Corral.Gateway.Proxy;
using Corral.Interception;
using Corral.Interception.Http;
using Corral.Policy.Compilation;

namespace Corral.Gateway.Observability;

/// <summary>
/// One flow's span and its children. Made only while tracing is on (<see cref="Start"/> returns null otherwise, so a
/// flow session's hooks are null-conditional calls that cost nothing). The flow span is the root of its own trace and
/// carries the same id as the flow log (<c>corral.flow.id</c>); its status is Error when the flow is refused, by a rule
/// or by a gateway check.
/// </summary>
internal sealed class FlowTrace : ITlsHandshakeObserver
{
    public const string SpanName = "corral.flow";

    private readonly Activity _flow;
    private Activity? _request;

    private FlowTrace(Activity flow) => _flow = flow;

    /// <summary>Starts the flow's span, or returns null when tracing is off or the sampler drops it.</summary>
    public static FlowTrace? Start(ClientConnection client, string flowId)
    {
        if (!FlowTracing.Enabled) return null;
        // A flow is a trace of its own: nothing the connection's handler had current is its parent.
        Activity.Current = null;
        var span = FlowTracing.Source.StartActivity(SpanName, ActivityKind.Server);
        if (span is null) return null;
        TagStart(span, flowId, client.Listener, client.Source);
        return new FlowTrace(span);
    }

    internal static void TagStart(Activity span, string flowId, string listener, IPEndPoint source)
    {
        span.SetTag("corral.flow.id", flowId);
        span.SetTag("corral.listener", listener);
        span.SetTag("client.address", source.Address.ToString());
        span.SetTag("client.port", source.Port);
        span.SetTag("network.transport", "tcp");
    }

    /// <summary>The <c>corral.decide</c> span (DNS resolution is its child); dispose it when the decision is made.</summary>
    public IDisposable Deciding(FlowSession session) => new DecisionSpan(FlowTracing.Source.StartActivity("corral.decide", ActivityKind.Internal, _flow.Context), session);

    /// <summary>The flow's verdict, as its decision record says it: tags the flow span, Error when the flow is refused.</summary>
    public void Decided(FlowSession session, bool decrypted)
    {
        TagDestination(_flow, session);
        if (session.DialTo is { } dial)
        {
            _flow.SetTag("network.peer.address", dial.Address.ToString());
            _flow.SetTag("network.peer.port", dial.Port);
        }
        TagVerdict(_flow, session);
        _flow.SetTag("corral.decrypted", decrypted && session.LetsThrough);
    }

    /// <summary>A refusal after the flow was let through (a later TLS handshake that disagrees).</summary>
    public void RefusedLate(Refusal refusal) => TagRefusal(_flow, refusal);

    /// <summary>Ends the flow span (and a request span left open by a connection that broke mid-request).</summary>
    public void Closed(long up, long down, string? note)
    {
        EndRequest();
        _flow.SetTag("corral.bytes.up", up);
        _flow.SetTag("corral.bytes.down", down);
        if (note is not null) _flow.SetTag("corral.close.reason", note);
        _flow.Stop();
    }

    /// <summary>A request inside the flow has been read and is being decided: its span starts (the upstream dial and TLS it needs are its children).</summary>
    public void RequestStarting()
    {
        EndRequest();
        _request = FlowTracing.Source.StartActivity("HTTP", ActivityKind.Client, _flow.Context);
    }

    /// <summary>The request's outcome (its request record): tags and ends its span; a request refused before it was decided gets a span here.</summary>
    public void RequestDone(FlowSession session, InspectedRequest request)
    {
        var span = _request ?? FlowTracing.Source.StartActivity("HTTP", ActivityKind.Client, _flow.Context);
        _request = null;
        if (span is null) return;
        var method = FlowTracing.Method(request.Method);
        span.DisplayName = method == "_OTHER" ? "HTTP" : method;
        span.SetTag("http.request.method", method);
        if (method == "_OTHER") span.SetTag("http.request.method_original", request.Method);
        span.SetTag("url.full", FlowTracing.RedactQuery(request.Url));
        if (request.Path is { } target)
        {
            var q = target.IndexOf('?', StringComparison.Ordinal);
            span.SetTag("url.path", q < 0 ? target : target[..q]);
            if (q >= 0) span.SetTag("url.query", FlowTracing.RedactedQuery(target[(q + 1)..]));
        }
        var scheme = request.Url.IndexOf("://", StringComparison.Ordinal) is var s and > 0 ? request.Url[..s] : null;
        if (scheme is not null) span.SetTag("url.scheme", scheme);
        TagDestination(span, session);
        if (request.Status > 0) span.SetTag("http.response.status_code", request.Status);
        span.SetTag("corral.bytes.up", request.BytesUp);
        span.SetTag("corral.bytes.down", request.BytesDown);
        if (request.Mcp is { } mcp)
        {
            span.SetTag("corral.mcp.method", mcp.Method);
            if (mcp.Tool is not null) span.SetTag("corral.mcp.tool", mcp.Tool);
        }
        if (request.Refusal is { Check: not null } byCheck) TagRefusal(span, byCheck);
        else
        {
            TagVerdict(span, request.Verdict);
            if (request.Refusal is { } byRule) span.SetStatus(ActivityStatusCode.Error, byRule.Reason);
            else if (!request.Forwarded) span.SetStatus(ActivityStatusCode.Error, "not forwarded");
            else if (request.Status >= 500)
            {
                span.SetTag("error.type", request.Status.ToString(System.Globalization.CultureInfo.InvariantCulture));
                span.SetStatus(ActivityStatusCode.Error);
            }
        }
        span.Stop();
    }

    public ITlsHandshakeScope? HandshakeStarting(string serverName, bool upstream)
    {
        // The client's handshake belongs to the flow; the upstream's to the request that needed the connection.
        var parent = upstream && _request is { } request ? request.Context : _flow.Context;
        var span = FlowTracing.Source.StartActivity(upstream ? "corral.tls.upstream" : "corral.tls.client", upstream ? ActivityKind.Client : ActivityKind.Server, parent);
        if (span is null) return null;
        span.SetTag("server.address", serverName);
        span.SetTag("tls.protocol.name", "tls");
        return new HandshakeSpan(span, upstream);
    }

    private void EndRequest()
    {
        _request?.SetStatus(ActivityStatusCode.Error, "the connection ended before the request's outcome");
        _request?.Stop();
        _request = null;
    }

    private static void TagDestination(Activity span, FlowSession session)
    {
        if (session.Name.Length > 0) span.SetTag("server.address", session.Name);
        if (session.Port > 0) span.SetTag("server.port", session.Port);
    }

    /// <summary>The verdict as the flow log records it: a check's refusal carries the check and no rule.</summary>
    private static void TagVerdict(Activity span, FlowSession session)
    {
        if (session.Refusal is { Check: not null } byCheck)
        {
            TagRefusal(span, byCheck);
            return;
        }
        if (session.Decision.Flow.Source is not null) TagVerdict(span, session.Decision.Verdict);
        if (session.Refusal is { } byRule) span.SetStatus(ActivityStatusCode.Error, byRule.Reason);
    }

    private static void TagVerdict(Activity span, in Verdict verdict)
    {
        span.SetTag("corral.rule", verdict.Rule?.Name ?? "(default-action)");
        span.SetTag("corral.action", verdict.Action == Policy.Model.RuleAction.Permit ? "permit" : "deny");
        span.SetTag("corral.enforced", verdict.Enforced);
    }

    private static void TagRefusal(Activity span, Refusal refusal)
    {
        span.SetTag("corral.action", "deny");
        span.SetTag("corral.enforced", true);
        if (refusal.Check is not null) span.SetTag("corral.check", refusal.Check);
        span.SetStatus(ActivityStatusCode.Error, refusal.RecordText);
    }

    /// <summary>The <c>corral.decide</c> span: tagged with the verdict (or the name that did not resolve) when disposed.</summary>
    private sealed class DecisionSpan(Activity? span, FlowSession session) : IDisposable
    {
        public void Dispose()
        {
            if (span is null) return;
            TagDestination(span, session);
            if (session.Decision.Unresolved) span.SetTag("corral.unresolved", true);
            TagVerdict(span, session);
            span.Stop();
        }
    }

    private sealed class HandshakeSpan(Activity span, bool upstream) : ITlsHandshakeScope
    {
        private bool _established;

        public void Established(SslStream tls)
        {
            _established = true;
            span.SetTag("tls.established", true);
            span.SetTag("tls.protocol.version", tls.SslProtocol switch
            {
                System.Security.Authentication.SslProtocols.Tls13 => "1.3",
                System.Security.Authentication.SslProtocols.Tls12 => "1.2",
                var other => other.ToString(),
            });
            span.SetTag("tls.cipher", tls.NegotiatedCipherSuite.ToString());
            if (tls.NegotiatedApplicationProtocol.Protocol.Length > 0) span.SetTag("tls.next_protocol", tls.NegotiatedApplicationProtocol.ToString());
            // The stream's own certificate object: read, not disposed.
            if (upstream && tls.RemoteCertificate is System.Security.Cryptography.X509Certificates.X509Certificate2 certificate)
            {
                span.SetTag("tls.server.subject", certificate.Subject);
                span.SetTag("tls.server.issuer", certificate.Issuer);
                span.SetTag("tls.server.hash.sha256", certificate.GetCertHashString(System.Security.Cryptography.HashAlgorithmName.SHA256));
                span.SetTag("tls.server.not_after", certificate.NotAfter.ToUniversalTime().ToString("O", System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        public void Dispose()
        {
            if (!_established)
            {
                span.SetTag("tls.established", false);
                span.SetStatus(ActivityStatusCode.Error, "the TLS handshake did not complete");
            }
            span.Stop();
        }
    }
}

using System.Diagnostics;
using System.Net;
using Corral.Gateway.Decision;
using Corral.Gateway.FlowLog;
using Corral.Interception;
using Corral.Interception.Http;
using Corral.Policy.Compilation;

namespace Corral.Gateway.Proxy;

/// <summary>
/// One flow from start to close: its id, the one policy snapshot every decision on it uses, its verdict or refusal,
/// and the only place its records are written — exactly one decision record, request records for the HTTP requests
/// it carries, and exactly one close record (written on dispose if nothing wrote it before). Handlers only gather
/// facts (names, stream kind, addresses) and hand them here.
/// </summary>
internal sealed class FlowSession : IAsyncDisposable
{
    private readonly ClientConnection _client;
    private readonly CompiledPolicy _policy;
    private readonly long _started = Stopwatch.GetTimestamp();
    private readonly string? _method, _url;
    private bool _decisionWritten, _closed;
    private FlowDecision _decision;
    private readonly Observability.FlowTrace? _trace;

    public FlowSession(ClientConnection client, string? method, string? url)
    {
        _client = client;
        _policy = client.Context.Decider.Snapshot();
        _method = method;
        _url = url;
        Id = client.Context.NewFlowId();
        _trace = Observability.FlowTrace.Start(client, Id); // tracing hook: null when tracing is off
    }

    public string Id { get; }
    private GatewayContext Context => _client.Context;

    /// <summary>The flow's facts and the verdict on them, once decided.</summary>
    public FlowDecision Decision => _decision;

    /// <summary>Why the flow is refused (a rule or a gateway check), or null while it may go on.</summary>
    public Refusal? Refusal { get; private set; }

    /// <summary>The requested name, or the canonical text of the requested address.</summary>
    public string Name { get; private set; } = "";
    public int Port { get; private set; }
    public string Authority => Port is 80 or 443 ? Name : Name.Contains(':') ? $"[{Name}]:{Port}" : $"{Name}:{Port}";

    /// <summary>The address the verdict chose and the port, once decided; null when nothing was resolved.</summary>
    public IPEndPoint? DialTo { get; private set; }

    public bool LetsThrough => Refusal is null && _decision.LetsThrough;

    /// <summary>The TLS settings of the policy snapshot this flow is decided on.</summary>
    public Policy.Model.TlsSettings Tls => _policy.Document.Tls;

    /// <summary>
    /// Decides the flow: by name alone when no address could let it through (no DNS query for a name the policy
    /// denies), else after resolving it. Then the gateway's own guard: never dial the gateway itself.
    /// </summary>
    /// <param name="dialled">The address the client dialled, when known (transparent mode): see <see cref="FlowDecider.DecideAsync"/>.</param>
    public async ValueTask DecideAsync(Destination destination, int port, bool? isTls, CancellationToken ct, IPAddress? dialled = null)
    {
        using var traced = _trace?.Deciding(this); // tracing hook
        Name = HttpAuthority.NameOf(destination);
        Port = port;
        _decision = await Context.Decider.DecideAsync(_policy, _client.Source.Address, destination, port, null, isTls, ct, dialled).ConfigureAwait(false);
        if (_decision.Unresolved)
        {
            Refuse(Refusal.ByCheck(GatewayCheck.Unresolved, Authority, $"'{destination.Host}' did not resolve", 502));
            return;
        }
        if (_decision.Flow.Destinations.Count > 0) DialTo = new IPEndPoint(_decision.DialAddress, port);
        if (!_decision.Verdict.LetsThrough)
        {
            Refuse(Refusal.ByRule(_decision.Verdict.Rule?.Name, Authority, _decision.Verdict.ReasonText));
            return;
        }
        if (DialTo is not null && Context.Self.IsSelf(DialTo))
            Refuse(Refusal.ByCheck(GatewayCheck.ProxyLoop, Authority, $"{DialTo} is the gateway itself: refusing a proxy loop"));
    }

    /// <summary>Decides again with the stream's true TLS fact (found after deciding); keeps the stricter outcome.</summary>
    public void CorrectTls(bool isTls)
    {
        var again = Context.Decider.Redecide(_policy, _decision, isTls);
        if (again.LetsThrough) return;
        _decision = again;
        Refuse(Refusal.ByRule(again.Verdict.Rule?.Name, Authority, again.Verdict.ReasonText));
    }

    /// <summary>Refuses the flow (the first refusal stands).</summary>
    public void Refuse(Refusal refusal) => Refusal ??= refusal;

    /// <summary>
    /// Refuses a flow already let through (its decision record written) on what it sent later: logged and counted as
    /// denied; its close record names the check.
    /// </summary>
    public void RefuseLate(Refusal refusal)
    {
        if (Refusal is not null) return;
        Refusal = refusal;
        _trace?.RefusedLate(refusal); // tracing hook
        Context.Denied.Add(1);
        Context.Logger.FlowRefused(Id, _client.Listener, _client.Source, Authority, refusal.Check, refusal.Reason);
    }

    /// <summary>
    /// Writes the decision record (once): before any byte goes upstream. A refused flow is counted as denied and logged.
    /// </summary>
    public void RecordDecision(bool decrypted = false)
    {
        if (_decisionWritten) return;
        _decisionWritten = true;
        _trace?.Decided(this, decrypted); // tracing hook
        var verdict = _decision.Flow.Source is null ? (Verdict?)null : _decision.Verdict;
        var refusedByCheck = Refusal is { Check: not null };
        var letsThrough = Refusal is null && _decision.LetsThrough;
        Context.Flows.Add(1, new KeyValuePair<string, object?>("rule", refusedByCheck ? "(refused)" : verdict?.Rule?.Name ?? "(default)"),
            new KeyValuePair<string, object?>("action", !letsThrough || verdict is not { Action: Policy.Model.RuleAction.Permit } ? "deny" : "permit"),
            new KeyValuePair<string, object?>("enforced", refusedByCheck || verdict is not { Enforced: false } ? "true" : "false"));
        if (!letsThrough) Context.Denied.Add(1);
        if (Refusal is { } refusal)
        {
            if (refusal.Check is null) Context.Logger.FlowDenied(Id, _client.Listener, _client.Source, Authority, refusal.Rule, refusal.Reason);
            else Context.Logger.FlowRefused(Id, _client.Listener, _client.Source, Authority, refusal.Check, refusal.Reason);
        }
        Context.FlowLog.Write(new FlowRecord
        {
            Event = FlowEvent.Decision, Time = DateTimeOffset.UtcNow, FlowId = Id, Listener = _client.Listener, Source = _client.Source,
            Destination = DialTo, Host = _decision.Flow.Host ?? HostOrNull(), Method = _method, Url = _url,
            ResolvedName = _decision.Flow.Host is null && DialTo is not null ? Context.ResolvedNames?.NameOf(DialTo.Address) : null,
            Verdict = refusedByCheck ? null : verdict, Refusal = refusedByCheck ? Refusal!.Reason : null, Check = Refusal?.Check, Decrypted = decrypted && letsThrough,
            Facts = _decision.Flow.Source is null ? null : _decision.Flow,
        });
    }

    private string? HostOrNull() => Name.Length == 0 || IPAddress.TryParse(Name, out _) ? null : Name;

    /// <summary>The per-request decisions and request records of the HTTP requests this flow carries.</summary>
    public IRequestPolicy Requests => _requests ??= new RequestRecords(this);
    private RequestRecords? _requests;
    private long _requestsUp, _requestsDown;

    private sealed class RequestRecords(FlowSession session) : IRequestPolicy, ITlsHandshakeObserver
    {
        // The path as sent: the policy reads it only where a URL filter must match, and one it cannot read matches none.
        public Verdict Decide(string path)
        {
            session._trace?.RequestStarting(); // tracing hook: a request is decided once, when its head has been read
            return session.Context.Decider.DecideRequest(session._policy, session._decision, path);
        }

        public ITlsHandshakeScope? HandshakeStarting(string serverName, bool upstream) => session._trace?.HandshakeStarting(serverName, upstream); // tracing hook

        public bool IsToolHeld(string tool) => session.IsToolHeld(tool);

        public IReadOnlyList<string> OnToolsListed(Interception.Mcp.McpToolListing listing) => session.OnToolsListed(listing);

        public void OnRequest(InspectedRequest request)
        {
            session._requestsUp += request.BytesUp;
            session._requestsDown += request.BytesDown;
            session._trace?.RequestDone(session, request); // tracing hook
            var ctx = session.Context;
            if (!request.Forwarded || request.Refusal is not null) ctx.Denied.Add(1);
            var refusal = request.Refusal;
            ctx.FlowLog.Write(new FlowRecord
            {
                Event = FlowEvent.Request, Time = DateTimeOffset.UtcNow, FlowId = session.Id, Listener = session._client.Listener, Source = session._client.Source,
                Destination = session.DialTo, Host = session.HostOrNull(), Method = request.Method, Url = request.Url,
                Verdict = refusal is { Check: not null } ? null : request.Verdict,
                Refusal = refusal is { Check: not null } ? refusal.Reason : null, Check = refusal?.Check, Decrypted = session._decrypted, Status = request.Status,
                BytesUp = request.BytesUp, BytesDown = request.BytesDown, Mcp = request.Mcp, Facts = session.RequestFacts(request.Path),
            });
            if (request.Mcp is { } mcp) session.CountMcp(mcp, request.Verdict);
            if (refusal is not null)
                ctx.Logger.RequestRefused(session.Id, request.Method, request.Url, refusal.Check ?? refusal.Rule, refusal.Reason);
        }
    }

    private bool _decrypted;

    // The MCP server a flow reaches, as pins and metrics name it: the authority it was asked for.
    private string McpServer => Authority;

    private void CountMcp(Interception.Mcp.McpExchange mcp, Verdict verdict)
    {
        var outcome = !mcp.Denied ? "allowed" : verdict.Enforced ? "denied" : "would-deny";
        Context.McpCalls.Add(1, new KeyValuePair<string, object?>("server", McpServer), new KeyValuePair<string, object?>("tool", mcp.Tool ?? mcp.Method),
            new KeyValuePair<string, object?>("outcome", outcome));
    }

    private bool IsToolHeld(string tool) => Context.ToolPins.IsHeld(McpServer, tool);

    private IReadOnlyList<string> OnToolsListed(Interception.Mcp.McpToolListing listing)
    {
        var comparison = Context.ToolPins.Observe(McpServer, listing);
        foreach (var tool in comparison.NewlyFlagged)
        {
            Context.McpToolChanges.Add(1, new KeyValuePair<string, object?>("server", McpServer), new KeyValuePair<string, object?>("tool", tool));
            Context.Logger.McpToolChanged(Id, McpServer, tool);
        }
        return comparison.Changed;
    }
    // A request is decided on the flow's facts with its own path and only the address dialled.
    private Flow? RequestFacts(string? path) => _decision.Flow.Source is null ? null
        : _decision.Flow with { Path = path, Destinations = DialTo is null ? _decision.Flow.Destinations : [DialTo.Address] };

    /// <summary>Marks the flow as decrypted (its request records say so) and writes the decision record.</summary>
    public void Permit(bool decrypted)
    {
        _decrypted = decrypted;
        RecordDecision(decrypted);
    }

    /// <summary>Writes the close record (once) with the bytes moved; the HTTP requests' bytes are added when the flow carried requests.</summary>
    public void Close(long up = 0, long down = 0, string? note = null)
    {
        if (_closed) return;
        RecordDecision();
        _closed = true;
        up += _requestsUp;
        down += _requestsDown;
        if (up > 0) Context.BytesUp.Add(up);
        if (down > 0) Context.BytesDown.Add(down);
        Context.FlowLog.Write(new FlowRecord
        {
            Event = FlowEvent.Close, Time = DateTimeOffset.UtcNow, FlowId = Id, Listener = _client.Listener, Source = _client.Source,
            Destination = DialTo, Host = HostOrNull(), BytesUp = up, BytesDown = down, DurationMs = Stopwatch.GetElapsedTime(_started).TotalMilliseconds,
            Refusal = note ?? (Refusal is { Check: not null } ? Refusal.Reason : null), Check = Refusal?.Check,
        });
        _trace?.Closed(up, down, note); // tracing hook
    }

    public ValueTask DisposeAsync()
    {
        Close();
        return ValueTask.CompletedTask;
    }
}

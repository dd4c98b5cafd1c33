using System.Diagnostics;
using System.Net;
using Corral.Gateway.Decision;
using Corral.Gateway.FlowLog;
using Corral.Gateway.Sniffing;
using Corral.Interception;
using Corral.Interception.Http;
using Corral.Policy.Compilation;

namespace Corral.Gateway.Proxy;

/// <summary>What a handler does with an admitted flow (the session has written its decision record).</summary>
internal enum FlowCarriage
{
    /// <summary>Refused: answer with <see cref="FlowSession.Refusal"/> in the form the client speaks, then close.</summary>
    Refuse,
    /// <summary>The client closed before sending anything: nothing to carry.</summary>
    End,
    /// <summary>Cleartext HTTP: each request through the request pipeline, admitted by <see cref="FlowSession.Requests"/>.</summary>
    RelayHttp,
    /// <summary>TLS decrypted, each request through the request pipeline.</summary>
    Decrypt,
    /// <summary>Spliced: bytes moved unread (a TLS handshake watched first).</summary>
    Splice,
}

/// <summary>
/// The one gate of a flow, from start to close (Smokescreen's one deferred emission point): it owns the flow's id and
/// the one policy snapshot every decision on it uses; it decides the connection (<see cref="DecideAsync"/>), admits
/// it once its first bytes are known (<see cref="Admit(in Sniffed, bool, bool)"/>), admits each request it carries
/// (<see cref="Requests"/>: head, then body) and completes it (<see cref="Close"/>). It alone writes the flow's
/// records: exactly one decision record (at admission), one request record per HTTP request, and exactly one close
/// record (written on dispose if nothing wrote it before). Handlers and the request pipeline only gather facts (names,
/// stream kind, addresses, requests) and act on its answers.
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

    /// <summary>The payload patterns of the policy snapshot this flow is decided on: every request of the flow is inspected with them.</summary>
    public Policy.Inspection.PayloadInspector Inspector => _policy.Inspector;

    /// <summary>The TLS settings of the policy snapshot this flow is decided on.</summary>
    public Policy.Model.TlsSettings Tls => _policy.Document.Tls;

    /// <summary>The agent the client authenticated as (explicit listener), or null: what every record of the flow names.</summary>
    public string? Agent => _identity?.Agent?.Name;

    // The outcome of the client's Proxy-Authorization, when the policy has agents and the listener reads it.
    private AgentIdentity? _identity;

    /// <summary>
    /// Reads the client's claim to be an agent (the explicit listener's Proxy-Authorization), before deciding: a policy
    /// without agents ignores it. A header that names no agent, or a token from outside its agent's CIDRs, refuses the
    /// flow before it is decided: never a silent fall-back to the subnet's rules. A missing header is decided on the address alone and
    /// refused only if no rule lets it through that way (<see cref="DecideAsync"/>).
    /// </summary>
    public void Authenticate(string? proxyAuthorization)
    {
        if (_policy.Agents.Any) _identity = _policy.Agents.Identify(proxyAuthorization, _client.Source.Address);
    }

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
        if (_identity is { Outcome: AgentAuthentication.Invalid or AgentAuthentication.OutsideCidrs } refused)
        {
            Refuse(Refusal.AgentUnauthenticated(Authority, refused.Reason, CompiledAgents.Realm));
            return; // nothing is resolved for it
        }
        if (_identity?.Agent is { } agent && Context.AgentBudgets.TryStart(agent) is { } over)
        {
            RefuseOverBudget(Authority, over);
            return;
        }
        // A credential's placeholder in a name would leave in a DNS query or an SNI before any byte could be read.
        if (destination.Host is { } host && _policy.Credentials.FindIn(host) is { } credential)
        {
            Refuse(Refusal.CredentialExfiltration(credential, "the destination's name", Authority));
            Context.Metrics.CredentialExfiltrations.Add(1, new KeyValuePair<string, object?>("credential", credential.Name), new KeyValuePair<string, object?>("rule", "(name)"));
            return;
        }
        _decision = await Context.Decider.DecideAsync(_policy, _client.Source.Address, destination, port, null, isTls, ct, dialled, Agent).ConfigureAwait(false);
        if (_decision.Unresolved)
        {
            Refuse(Refusal.ByCheck(GatewayCheck.Unresolved, Authority, $"'{destination.Host}' did not resolve", 502));
            return;
        }
        if (_decision.Flow.Destinations.Count > 0) DialTo = new IPEndPoint(_decision.DialAddress, port);
        // No token where the policy has agents: admitted only when a rule lets the address through without one.
        if (_identity is { Outcome: AgentAuthentication.Missing } missing && !_decision.Verdict.LetsThrough)
        {
            Refuse(Refusal.AgentUnauthenticated(Authority, missing.Reason + ", and no rule admits this flow without one", CompiledAgents.Realm));
            return;
        }
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

    private Refusal RefuseOverBudget(string destination, string reason)
    {
        var refusal = Refusal.AgentOverBudget(destination, reason);
        Refuse(refusal);
        Context.Metrics.AgentBudgetRefusals.Add(1, new KeyValuePair<string, object?>("agent", Agent));
        return refusal;
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
        Context.Metrics.Denied.Add(1);
        Context.Logger.FlowRefused(Id, _client.Listener, _client.Source, Authority, refusal.Check, refusal.Reason);
    }

    /// <summary>
    /// Admits the flow as decided so far, with no stream of its own to look at (the explicit proxy's plain HTTP, or a
    /// refusal answered before any stream): writes the decision record. Returns whether it may go on.
    /// </summary>
    public bool Admit()
    {
        RecordDecision();
        return LetsThrough;
    }

    /// <summary>
    /// Admits the flow once its first bytes are known (a CONNECT tunnel or a transparent connection): holds the stream
    /// against the decision, chooses how it is carried, and writes the decision record.
    /// </summary>
    /// <param name="named">Whether the flow was decided for a host name (a CONNECT authority or a transparent SNI/Host), not an address.</param>
    /// <param name="canDecrypt">Whether the gateway has a CA to decrypt with.</param>
    public FlowCarriage Admit(in Sniffed sniffed, bool named, bool canDecrypt)
    {
        var carriage = Carriage(sniffed, named, canDecrypt);
        _decrypted = carriage == FlowCarriage.Decrypt;
        RecordDecision(_decrypted);
        return carriage;
    }

    private FlowCarriage Carriage(in Sniffed sniffed, bool named, bool canDecrypt)
    {
        CheckStream(sniffed, named);
        if (Refusal is not null) return FlowCarriage.Refuse;
        if (sniffed.Kind == StreamKind.Closed) return FlowCarriage.End;
        if (sniffed.Kind == StreamKind.Http) return FlowCarriage.RelayHttp;
        // Decrypt only an enforced permit whose rule allows it, when a CA is configured and the stream is TLS with an
        // SNI; everything else (decrypt: not-allowed, watched rules, no CA) is spliced.
        if (canDecrypt && _decision.Verdict.Decrypt && sniffed.IsTls && _decision.Flow.Host is not null) return FlowCarriage.Decrypt;
        // Encrypted Client Hello hides the name the client really asks for, and the flow was decided on the visible one.
        if (sniffed.OffersEch)
        {
            if (Tls.Ech == Policy.Model.EchHandling.Intercept && canDecrypt && _decision.Flow.Host is not null) return FlowCarriage.Decrypt;
            Refuse(Refusal.ByCheck(GatewayCheck.EncryptedClientHello, Authority,
                "the TLS ClientHello carries Encrypted Client Hello, which hides the name it really asks for; the gateway does not splice it (policy tls.ech: " +
                (Tls.Ech == Policy.Model.EchHandling.Refuse ? "refuse)" : "intercept, which needs a CA and an SNI)")));
            return FlowCarriage.Refuse;
        }
        // A rule that decides MCP calls one by one cannot let a stream it cannot read through whole (no CA, no SNI, not TLS).
        if (_decision.Verdict is { Enforced: true, Rule.Mcp: not null } mcpVerdict)
        {
            Refuse(Refusal.ByCheck(GatewayCheck.McpNotDecrypted, Authority,
                $"rule '{mcpVerdict.Rule!.Name}' decides MCP calls one by one, which needs this flow decrypted" +
                (canDecrypt ? " (TLS with an SNI)" : ", and the gateway has no CA configured")));
            return FlowCarriage.Refuse;
        }
        return FlowCarriage.Splice;
    }

    /// <summary>
    /// Holds the stream's first bytes against the decision: a stream the parsers refuse is refused; TLS to a named
    /// destination must name it in the SNI; names must agree (domain fronting); port 443 carries TLS and nothing else;
    /// a TLS stream on another port is decided again as TLS.
    /// </summary>
    private void CheckStream(in Sniffed sniffed, bool named)
    {
        switch (sniffed.Kind)
        {
            case StreamKind.Bad:
                Refuse(Refusal.ByCheck(GatewayCheck.Malformed, Authority, sniffed.Problem!, sniffed.LooksLikeTls ? 403 : sniffed.Status));
                return;
            case StreamKind.Tls when sniffed.Name is null && named:
                Refuse(Refusal.ByCheck(GatewayCheck.NoSni, Authority, $"the TLS ClientHello names no server; a flow to '{Name}' must name it in the SNI"));
                return;
            case StreamKind.Tls when sniffed.Name is { } sni && sni != Name:
                Refuse(Refusal.ByCheck(GatewayCheck.NameMismatch, Authority, $"the TLS SNI '{sni}' differs from the requested '{Name}' (domain fronting)"));
                return;
            case StreamKind.Tls:
                if (Port != 443) CorrectTls(true);
                return;
            case StreamKind.Http or StreamKind.Opaque or StreamKind.Silent when Port == 443:
                Refuse(Refusal.ByCheck(GatewayCheck.NotTlsOn443, Authority, "only TLS may use port 443"));
                return;
        }
    }


    /// <summary>
    /// Writes the decision record (once): before any byte goes upstream. A refused flow is counted as denied and logged.
    /// </summary>
    private void RecordDecision(bool decrypted = false)
    {
        if (_decisionWritten) return;
        _decisionWritten = true;
        _trace?.Decided(this, decrypted); // tracing hook
        var verdict = _decision.Flow.Source is null ? (Verdict?)null : _decision.Verdict;
        var refusedByCheck = Refusal is { Check: not null };
        var letsThrough = Refusal is null && _decision.LetsThrough;
        var tags = new TagList
        {
            { "rule", refusedByCheck ? "(refused)" : verdict?.Rule?.Name ?? "(default)" },
            { "action", !letsThrough || verdict is not { Action: Policy.Model.RuleAction.Permit } ? "deny" : "permit" },
            { "enforced", refusedByCheck || verdict is not { Enforced: false } ? "true" : "false" },
        };
        if (_identity is not null) tags.Add("agent", Agent ?? "(none)"); // only where the policy has agents
        Context.Metrics.Flows.Add(1, tags);
        if (!letsThrough) Context.Metrics.Denied.Add(1);
        if (Refusal is { } refusal)
        {
            if (refusal.Check is null) Context.Logger.FlowDenied(Id, _client.Listener, _client.Source, Authority, refusal.Rule, refusal.Reason);
            else Context.Logger.FlowRefused(Id, _client.Listener, _client.Source, Authority, refusal.Check, refusal.Reason);
        }
        Context.FlowLog.Write(new FlowRecord
        {
            Event = FlowEvent.Decision, Time = DateTimeOffset.UtcNow, FlowId = Id, Listener = _client.Listener, Source = _client.Source, Agent = Agent,
            Destination = DialTo, Host = _decision.Flow.Host ?? HostOrNull(), Method = _method, Url = _url,
            ResolvedName = _decision.Flow.Host is null && DialTo is not null ? Context.ResolvedNames?.NameOf(DialTo.Address) : null,
            Verdict = refusedByCheck ? null : verdict, Refusal = refusedByCheck ? Refusal!.Reason : null, Check = Refusal?.Check, Decrypted = decrypted && letsThrough,
            Facts = _decision.Flow.Source is null ? null : _decision.Flow,
        });
    }

    private string? HostOrNull() => Name.Length == 0 || IPAddress.TryParse(Name, out _) ? null : Name;

    /// <summary>The flow's gate for the HTTP requests it carries: each one's decision and its request record.</summary>
    public IRequestGate Requests => _requests ??= new RequestGate(this);
    private RequestGate? _requests;
    private long _requestsUp, _requestsDown;

    private sealed class RequestGate(FlowSession session) : IRequestGate, ITlsHandshakeObserver
    {
        // The path as sent: the policy reads it only where a URL filter must match, and one it cannot read matches none.
        public Verdict Admit(string path)
        {
            session._trace?.RequestStarting(); // tracing hook: a request is admitted once, when its head has been read
            return session.Context.Decider.DecideRequest(session._policy, session._decision, path);
        }

        public ITlsHandshakeScope? HandshakeStarting(string serverName, bool upstream) => session._trace?.HandshakeStarting(serverName, upstream); // tracing hook

        public bool IsToolHeld(string tool) => session.IsToolHeld(tool);

        private bool _flowRequestCounted;

        // The first request of a proxied plain-HTTP flow is the request that opened the flow, already counted then.
        public Refusal? ChargeBudget(string destination, long declaredBytes)
        {
            if (session._identity?.Agent is not { } agent) return null;
            var opening = !_flowRequestCounted && session._method != "CONNECT";
            _flowRequestCounted = true;
            if (session.Context.AgentBudgets.TryStart(agent, declaredBytes, countsRequest: !opening) is not { } over) return null;
            var refusal = Refusal.AgentOverBudget(destination, over);
            session.Context.Metrics.AgentBudgetRefusals.Add(1, new KeyValuePair<string, object?>("agent", agent.Name));
            return refusal;
        }

        public CompiledCredentials Credentials => session._policy.Credentials;

        public string? CredentialValue(CompiledCredential credential, out string? problem) => session.Context.Credentials.TryGet(credential, out problem);

        public IReadOnlyList<string> OnToolsListed(Interception.Mcp.McpToolListing listing) => session.OnToolsListed(listing);

        public void Complete(InspectedRequest request)
        {
            session._requestsUp += request.BytesUp;
            if (session._identity?.Agent is { } agent) session.Context.AgentBudgets.AddBytes(agent, request.BytesUp);
            session._requestsDown += request.BytesDown;
            session._trace?.RequestDone(session, request); // tracing hook
            var ctx = session.Context;
            if (!request.Forwarded || request.Refusal is not null) ctx.Metrics.Denied.Add(1);
            var refusal = request.Refusal;
            ctx.FlowLog.Write(new FlowRecord
            {
                Event = FlowEvent.Request, Time = DateTimeOffset.UtcNow, FlowId = session.Id, Listener = session._client.Listener, Source = session._client.Source, Agent = session.Agent,
                Destination = session.DialTo, Host = session.HostOrNull(), Method = request.Method, Url = request.Url,
                Verdict = refusal is { Check: not null } ? null : request.Verdict,
                Refusal = refusal is { Check: not null } ? refusal.Reason : null, Check = refusal?.Check, Decrypted = session._decrypted, Status = request.Status,
                BytesUp = request.BytesUp, BytesDown = request.BytesDown, Mcp = request.Mcp, Facts = session.RequestFacts(request.Path),
                Credential = request.Credential, WebSocket = request.WebSocket,
            });
            if (request.Credential is { } credential) session.CountCredential(credential, refusal?.Check, request.Verdict);
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
        Context.Metrics.McpCalls.Add(1, new KeyValuePair<string, object?>("server", McpServer), new KeyValuePair<string, object?>("tool", mcp.Tool ?? mcp.Method),
            new KeyValuePair<string, object?>("outcome", outcome));
    }

    private void CountCredential(string credential, string? check, Verdict verdict)
    {
        var tag = new KeyValuePair<string, object?>("credential", credential);
        if (check is null) Context.Metrics.CredentialsPlaced.Add(1, tag);
        else if (check == GatewayCheck.CredentialExfiltration)
            Context.Metrics.CredentialExfiltrations.Add(1, tag, new KeyValuePair<string, object?>("rule", verdict.Rule?.Name ?? "(default)"));
    }

    private bool IsToolHeld(string tool) => Context.ToolPins.IsHeld(McpServer, tool);

    private IReadOnlyList<string> OnToolsListed(Interception.Mcp.McpToolListing listing)
    {
        var comparison = Context.ToolPins.Observe(McpServer, listing);
        foreach (var tool in comparison.NewlyFlagged)
        {
            Context.Metrics.McpToolChanges.Add(1, new KeyValuePair<string, object?>("server", McpServer), new KeyValuePair<string, object?>("tool", tool));
            Context.Logger.McpToolChanged(Id, McpServer, tool);
        }
        return comparison.Changed;
    }
    // A request is decided on the flow's facts with its own path and only the address dialled.
    private Flow? RequestFacts(string? path) => _decision.Flow.Source is null ? null
        : _decision.Flow with { Path = path, Destinations = DialTo is null ? _decision.Flow.Destinations : [DialTo.Address] };

    /// <summary>Writes the close record (once) with the bytes moved; the HTTP requests' bytes are added when the flow carried requests.</summary>
    public void Close(long up = 0, long down = 0, string? note = null)
    {
        if (_closed) return;
        RecordDecision();
        _closed = true;
        // A spliced tunnel's bytes count against its agent's budget when it closes (each request's, as it completes).
        if (_identity?.Agent is { } agent) Context.AgentBudgets.AddBytes(agent, up);
        up += _requestsUp;
        down += _requestsDown;
        if (up > 0) Context.Metrics.BytesUp.Add(up);
        if (down > 0) Context.Metrics.BytesDown.Add(down);
        Context.FlowLog.Write(new FlowRecord
        {
            Event = FlowEvent.Close, Time = DateTimeOffset.UtcNow, FlowId = Id, Listener = _client.Listener, Source = _client.Source, Agent = Agent,
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

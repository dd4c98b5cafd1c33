using System.Buffers;
using System.IO.Pipelines;
using Corral.Interception.Http;
using Corral.Interception.Mcp;
using Corral.Interception.WebSockets;
using Corral.Policy.Inspection;

namespace Corral.Interception;

/// <summary>
/// The stages one request passes, each returning a refusal or going on (YARP's HttpForwarder with its ForwarderError
/// is the model): read and frame, agree names, decide, check its shape, inspect the head, read the body (inspected;
/// on an MCP rule, its calls decided), forward, relay the response. One instance per client connection.
/// </summary>
internal sealed class RequestStages(InterceptionOptions options, Stream client, PipeReader clientReader, RelayTarget target, Upstreams upstreams,
    IRequestGate gate, PayloadInspector inspector)
{
    private static readonly HashSet<string> SafeToRetry = ["GET", "HEAD", "OPTIONS", "TRACE"];

    /// <param name="parsed">The request's head when the gateway already parsed it, else null (read here).</param>
    /// <returns>Null: go on with the next request.</returns>
    public async Task<RelayResult?> RelayOneAsync(ParsedRequest? parsed, CancellationToken ct)
    {
        var x = new RequestExchange(target.Authority);
        var step = await ReadAndFrameAsync(x, parsed, ct);
        if (step.GoesOn) step = await AgreeNamesAsync(x, ct);
        if (step.GoesOn) step = Decide(x);
        if (step.GoesOn) step = CheckShape(x);
        if (step.GoesOn) step = CredentialStage.Place(x, target, gate);
        if (step.GoesOn) step = await InspectHeadAsync(x, ct);
        if (step.GoesOn) step = await ReadBodyAsync(x, ct);
        if (step.GoesOn) step = await ForwardAsync(x, ct);
        if (step.GoesOn) step = await RelayResponseAsync(x, ct);
        if (step.Refused is { } refused) await RefuseAsync(x, refused, ct);
        return step.End;
    }

    // ---- read and frame: the request head (peeked: consumed only once it is this flow's) ----
    private async Task<Step> ReadAndFrameAsync(RequestExchange x, ParsedRequest? parsed, CancellationToken ct)
    {
        if (parsed is not null)
        {
            x.Request = parsed;
            return Step.GoOn;
        }
        try
        {
            var (head, bytes, ended) = await ReadHeadAsync(clientReader, consume: false, ct);
            if (ended) return Step.Closed;
            x.Request = new ParsedRequest(Http1Parser.ParseRequest(head, options.Limits), bytes.Length);
            return Step.GoOn;
        }
        catch (HttpMessageRefusedException ex)
        {
            return new RequestRefused(Refusal.ByCheck(GatewayCheck.Malformed, target.Authority, $"malformed request: {ex.Message}", ex.Status));
        }
        catch (IOException)
        {
            return Step.Closed;
        }
    }

    // ---- names: the request must name this flow's destination ----
    private async Task<Step> AgreeNamesAsync(RequestExchange x, CancellationToken ct)
    {
        var names = CheckNames(x.Head, target);
        if (names.OtherDestination) return Step.Stop(new RelayResult(RelayEnd.OtherDestination, x.Request));
        await ConsumeAsync(clientReader, x.Request!.Length, ct);
        x.Url = $"{target.Scheme}://{target.Authority}{names.OriginForm}";
        if (names.Refusal is { } refusal) return new RequestRefused(refusal);
        x.Path = names.OriginForm;
        return Step.GoOn;
    }

    // ---- decide: the flow's gate on this request's path ----
    private Step Decide(RequestExchange x)
    {
        x.Verdict = gate.Admit(x.Path!);
        if (!x.Verdict.LetsThrough) return new RequestRefused(Refusal.ByRule(x.Verdict.Rule?.Name, target.Authority, x.Verdict.ReasonText));
        var declared = x.Head.Framing == BodyFraming.ContentLength ? x.Head.ContentLength : 0;
        if (gate.ChargeBudget(target.Authority, declared) is { } overBudget) return new RequestRefused(overBudget) { Drain = true };
        return Step.GoOn;
    }

    // ---- shape: what the gateway can carry and inspect, and what MCP's transport allows ----
    private Step CheckShape(RequestExchange x)
    {
        if (RequestHeads.RequiresUpgrade(x.Head))
        {
            if (!WebSocketHandshake.AsksForWebSocket(x.Head))
                return new RequestRefused(Refusal.ByCheck(GatewayCheck.Upgrade, target.Authority, "protocol upgrades other than WebSocket cannot be inspected", 501));
            if (x.Verdict.Rule is not { AllowsWebSocket: true })
                return new RequestRefused(Refusal.ByCheck(GatewayCheck.Upgrade, target.Authority,
                    $"WebSocket is refused on rule '{x.Verdict.Rule?.Name ?? "(default-action)"}': it has no 'websocket: allow'", 501));
            if (WebSocketHandshake.RequestProblem(x.Head, out var key) is { } problem)
                return new RequestRefused(Refusal.ByCheck(GatewayCheck.Malformed, target.Authority, $"malformed WebSocket opening handshake: {problem}", 400));
            x.WebSocketKey = key;
        }
        if (x.McpRules is not null && McpTransportRefusal(x.Head) is { } transportProblem)
            return new RequestRefused(Refusal.ByRule(x.Verdict.Rule!.Name, target.Authority, transportProblem, 400))
                { Mcp = new McpExchange("(none)", null, true, transportProblem) };
        return Step.GoOn;
    }

    // ---- inspect: the head, before any body byte is read ----
    private async Task<Step> InspectHeadAsync(RequestExchange x, CancellationToken ct)
    {
        x.Inspects = x.Verdict.Enforced && !inspector.IsEmpty;
        x.Scan = x.Inspects ? inspector.StartStream(ContentType(x.Head)) : null;
        if (x.Scan?.ScanApart(RequestHeads.ScannableHead(x.Head, x.ScannedPath ?? x.Path!, inspector, x.PlacedHeaders)) is { } headSecret)
            return SecretFound(headSecret);
        if (HttpHeaders.HasToken(x.Head.Headers, "Expect", "100-continue"))
            await client.WriteAsync("HTTP/1.1 100 Continue\r\n\r\n"u8.ToArray(), ct);
        return Step.GoOn;
    }

    // ---- the body: read whole before anything goes upstream when it must be (or is small), inspected; MCP calls decided ----
    // Small Content-Length bodies (scanned as they arrive), and, when inspecting, any body with a content coding
    // (decoded within a bound, then scanned). An MCP rule's body is read whole, whatever its framing, and decided
    // message by message before it goes on. Anything else streams to the upstream, scanned as it goes (ForwardAsync).
    private async Task<Step> ReadBodyAsync(RequestExchange x, CancellationToken ct)
    {
        var request = x.Head;
        var readsMcp = x.McpRules is not null && request.Framing != BodyFraming.None;
        var codings = ContentDecoding.CodingsOf(request.Headers);
        var encoded = x.Inspects && codings.Count > 0;
        if (!readsMcp && !encoded && !(request.Framing == BodyFraming.ContentLength && request.ContentLength <= options.BufferedBodyLimit))
            return Step.GoOn;
        try
        {
            if (readsMcp) return await DecideMcpCallsAsync(x, codings, ct);
            x.BufferedBody = encoded
                ? (await ReadWholeBodyAsync(request, codings, inspector, BodyBound(x), ct)).Framed
                : await ReadSmallBodyAsync(request, x.Scan, ct);
            return Step.GoOn;
        }
        catch (BodyCopier.SecretFoundException secret)
        {
            return SecretFound(secret.Pattern);
        }
        catch (HttpMessageRefusedException ex)
        {
            var uninspectable = ex.Status is 413 or 415;
            return new RequestRefused(uninspectable
                ? Refusal.ByCheck(GatewayCheck.UninspectableBody, target.Authority, ex.Message, ex.Status)
                : Refusal.ByCheck(GatewayCheck.Malformed, target.Authority, $"malformed request body: {ex.Message}", ex.Status)) { Drain = uninspectable };
        }
    }

    private int BodyBound(RequestExchange x) => x.Verdict.Rule?.MaxBufferedBody ?? options.BufferedBodyLimit;

    // ---- MCP: the body read whole, parsed as JSON-RPC, and each call decided; a denied call is answered here ----
    private async Task<Step> DecideMcpCallsAsync(RequestExchange x, IReadOnlyList<string> codings, CancellationToken ct)
    {
        var (framed, data) = await ReadWholeBodyAsync(x.Head, codings, x.Inspects ? inspector : null, BodyBound(x), ct);
        x.BufferedBody = framed;
        var ruleName = x.Verdict.Rule!.Name;
        if (JsonRpcBody.TryParse(data, out var notJsonRpc) is not { } rpc)
        {
            var reason = $"not a JSON-RPC request on a rule with an mcp section: {notJsonRpc}";
            return new RequestRefused(Refusal.ByRule(ruleName, target.Authority, reason, 400)) { Mcp = new McpExchange("(invalid)", null, true, reason) };
        }
        var decision = McpGate.Decide(rpc, x.McpRules!, ruleName, gate.IsToolHeld);
        x.McpDecision = decision;
        if (!decision.Exchange.Denied || !x.Verdict.Enforced) return Step.GoOn;
        var up = x.Request!.Length + framed.Length;
        // Calls are answered by id with a JSON-RPC error; only notifications or responses get the transport's HTTP error.
        return McpGate.DeniedResponse(decision, ruleName) is { } answer
            ? new RequestRefused(Refusal.ByRule(ruleName, target.Authority, decision.Exchange.Reason!, 200)) { Answer = answer, Up = up, Mcp = decision.Exchange }
            : new RequestRefused(Refusal.ByRule(ruleName, target.Authority, decision.Exchange.Reason!)) { Up = up, Mcp = decision.Exchange };
    }

    // ---- forward: upstream kept per client connection, lent from the pool, or connected ----
    // A reused connection (one that already served a response) may have been closed by the upstream while idle;
    // when it fails before any response byte, a request that is safe to send again (idempotent method, no body)
    // is sent once more on a fresh connection. Anything else gets a 502: it may have reached the upstream.
    private async Task<Step> ForwardAsync(RequestExchange x, CancellationToken ct)
    {
        var request = x.Head;
        var canRetry = SafeToRetry.Contains(request.Method) && (request.Framing == BodyFraming.None || (request.Framing == BodyFraming.ContentLength && request.ContentLength == 0));
        var retried = false;
        var forwardedHead = RequestHeads.SerializeRequestHead(x.ForwardHead ?? request, x.ForwardPath ?? x.Path!, webSocket: x.WebSocketKey is not null);
        while (true)
        {
            var upstream = upstreams.Current ?? upstreams.TryRent();
            if (upstream is null)
            {
                var (connected, refused) = await ConnectAsync(ct);
                if (refused is not null) return refused;
                upstream = connected!;
            }
            upstreams.Current = upstream;
            var reused = upstream.Served > 0;
            upstream.Clean = false;
            if (HttpHeaders.Values(request.Headers, "Authorization").Any(RequestHeads.IsConnectionBoundAuth)) upstream.Poolable = false;

            x.Up = x.Request!.Length;
            var failed = false;
            x.ResponseHead = (default, [], false);
            try
            {
                await upstream.Stream.WriteAsync(forwardedHead, ct);
                if (x.BufferedBody is not null) await upstream.Stream.WriteAsync(x.BufferedBody, ct);
                else x.Up += await BodyCopier.CopyAsync(clientReader, upstream.Stream, request.Framing, request.ContentLength, x.Scan, ct);
                x.Up += x.BufferedBody?.Length ?? 0;
                await upstream.Stream.FlushAsync(ct);
            }
            catch (BodyCopier.SecretFoundException secret)
            {
                // The upstream saw an unfinished request (its Content-Length or last chunk never arrives); drop the
                // connection so it is never completed, then answer the client and read what it is still sending.
                await DropAsync(upstream);
                return SecretFound(secret.Pattern);
            }
            catch (HttpMessageRefusedException ex)
            {
                await DropAsync(upstream);
                return new RequestRefused(Refusal.ByCheck(GatewayCheck.Malformed, target.Authority, $"malformed request body: {ex.Message}", ex.Status));
            }
            catch (IOException) when (reused && canRetry && !retried)
            {
                failed = true;
            }
            catch (IOException ex)
            {
                // Not retryable (a body, an unsafe method, or already a fresh connection): answer and record it, never just drop.
                return await UpstreamFailedAsync(upstream, ex);
            }
            if (!failed)
            {
                try
                {
                    x.ResponseHead = await ReadHeadAsync(upstream.Reader, consume: true, ct);
                }
                catch (IOException) when (reused && canRetry && !retried)
                {
                    failed = true;
                }
                catch (IOException ex)
                {
                    return await UpstreamFailedAsync(upstream, ex);
                }
            }
            if (failed || x.ResponseHead.Ended && reused && canRetry && !retried)
            {
                await DropAsync(upstream);
                retried = true;
                // Straight to a fresh connection: another pooled one may be just as stale.
                var (fresh, refused) = await ConnectAsync(ct);
                if (refused is not null) return refused;
                upstreams.Current = fresh;
                continue;
            }
            x.Upstream = upstream;
            return Step.GoOn;
        }
    }

    // A new upstream connection, or the refusal the client gets.
    private async Task<(UpstreamConnection? Connection, RequestRefused? Refused)> ConnectAsync(CancellationToken ct)
    {
        try
        {
            return (await upstreams.ConnectAsync(ct), null);
        }
        catch (UpstreamCertificateException ex)
        {
            return (null, new RequestRefused(Refusal.ByCheck(GatewayCheck.Upstream, target.Authority, ex.Message, 502)));
        }
        catch (Exception ex) when (ex is System.Net.Sockets.SocketException or TimeoutException or IOException)
        {
            return (null, new RequestRefused(Refusal.ByCheck(GatewayCheck.Upstream, target.Authority,
                $"upstream {target.Authority} unreachable: {ex.Message}", ex is TimeoutException ? 504 : 502)));
        }
    }

    private async Task<RequestRefused> UpstreamFailedAsync(UpstreamConnection upstream, IOException ex)
    {
        await DropAsync(upstream);
        return new RequestRefused(Refusal.ByCheck(GatewayCheck.Upstream, target.Authority, $"upstream {target.Authority} connection failed: {ex.Message}", 502));
    }

    private async Task DropAsync(UpstreamConnection upstream)
    {
        await upstream.DisposeAsync();
        upstreams.Current = null;
    }

    // ---- the response ----
    private async Task<Step> RelayResponseAsync(RequestExchange x, CancellationToken ct)
    {
        var request = x.Head;
        var upstream = x.Upstream!;
        var first = x.ResponseHead;
        HttpResponseHead response;
        while (true)
        {
            var (head, bytes, ended) = first;
            if (ended)
                return new RequestRefused(Refusal.ByCheck(GatewayCheck.Upstream, target.Authority, "upstream closed without a response", 502)) { Forwarded = true };
            try
            {
                response = Http1Parser.ParseResponse(head, options.Limits, request.Method);
            }
            catch (HttpMessageRefusedException ex)
            {
                return new RequestRefused(Refusal.ByCheck(GatewayCheck.Upstream, target.Authority, $"malformed response from upstream: {ex.Message}", 502)) { Forwarded = true };
            }
            if (response.Status is >= 100 and < 200 && response.Status != 101)
            {
                await client.WriteAsync(bytes, ct);
                x.Down += bytes.Length;
                first = await ReadHeadAsync(upstream.Reader, consume: true, ct);
                continue;
            }
            break;
        }
        if (x.WebSocketKey is not null)
        {
            upstream.Clean = false; // it was asked to upgrade: never lent on, whatever it answered
            if (response.Status == 101) return await RelayWebSocketAsync(x, response, first.Bytes, ct);
        }
        // On a rule that pins tools, every response body passes the listing guard: a listing is compared with the pins
        // before any byte of it reaches the client (which may call a changed tool at once, on another connection, and
        // that call must meet the hold), and one that cannot be compared never reaches it.
        var exchange = x.McpDecision?.Exchange;
        if (x.McpRules is { PinsTools: true } && response.Framing != BodyFraming.None)
        {
            var guard = new McpListingGuard(options, gate, x.McpDecision?.Body, x.Verdict.Rule!.Name, target.Authority);
            var guarded = await guard.RelayAsync(upstream.Reader, client, response, first.Bytes, ct);
            x.Down += guarded.Down;
            if (guard.Changed.Count > 0) exchange = (exchange ?? new McpExchange($"({request.Method} stream)", null, false, null)) with { ToolsChanged = guard.Changed };
            // The rest of the answer may still be on the upstream connection: never reused (it is not left clean).
            if (guarded.Refusal is { } withheld) return new RequestRefused(withheld) { Answered = true, Forwarded = true, Mcp = exchange };
        }
        // A small Content-Length body that has already arrived goes out with its head in one write (one TLS record,
        // one send) instead of two; everything else is relayed as it comes.
        else if (TryTakeWholeBody(upstream.Reader, response, first.Bytes) is { } whole)
        {
            await client.WriteAsync(whole, ct);
            x.Down += whole.Length;
        }
        else
        {
            await client.WriteAsync(first.Bytes, ct);
            x.Down += first.Bytes.Length;
            x.Down += await BodyCopier.CopyAsync(upstream.Reader, client, response.Framing, response.ContentLength, null, ct);
        }
        await client.FlushAsync(ct);
        gate.Complete(new InspectedRequest(request.Method, x.Url, x.Verdict, true, response.Status, null, x.Up, x.Down) { Path = x.Path, Mcp = exchange, Credential = x.Credential });
        // Each hop closes on its own terms: a client that asked to close (an agent's one call per connection) ends
        // its hop, while the upstream connection, which was not asked to close, stays clean for the next flow.
        var upstreamKept = !RequestHeads.ForwardedWantsClose(request) && !response.WantsClose && response.Status != 101 && x.WebSocketKey is null;
        var clientKept = upstreamKept && !request.WantsClose;
        upstream.Served++;
        if (HttpHeaders.Values(response.Headers, "WWW-Authenticate").Any(RequestHeads.IsConnectionBoundAuth)) upstream.Poolable = false;
        upstream.Clean = upstreamKept;
        return clientKept ? Step.Next : Step.Closed;
    }

    // ---- WebSocket: the server accepted the upgrade; its answer is checked, then messages are relayed, each client message decided ----
    private async Task<Step> RelayWebSocketAsync(RequestExchange x, HttpResponseHead response, byte[] head, CancellationToken ct)
    {
        if (WebSocketHandshake.ResponseProblem(response, x.Head, x.WebSocketKey!) is { } problem)
            return new RequestRefused(Refusal.ByCheck(GatewayCheck.WebSocket, target.Authority, $"the upstream's WebSocket handshake was refused: {problem}", 502)) { Forwarded = true };
        await client.WriteAsync(head, ct);
        await client.FlushAsync(ct);
        x.Down += head.Length;
        gate.Complete(new InspectedRequest(x.Head.Method, x.Url, x.Verdict, true, 101, null, x.Up, x.Down) { Path = x.Path, Credential = x.Credential });
        var rules = new WebSocketRules(x.Inspects ? inspector : null, x.McpRules, x.Verdict.Enforced, x.Verdict.Rule!.Name, BodyBound(x),
            Math.Max(BodyBound(x), options.DecodedBodyLimit), target.Authority, SecretFound);
        var outcome = await new WebSocketRelay(clientReader, client, x.Upstream!.Reader, x.Upstream.Stream, rules, gate).RunAsync(ct);
        var refused = outcome.Refused;
        gate.Complete(new InspectedRequest(WebSocketCloseMethod, x.Url, x.Verdict, refused is null, 101, refused?.Refusal, outcome.Summary.BytesUp, outcome.Summary.BytesDown)
            { Path = x.Path, Mcp = refused?.Mcp ?? outcome.Mcp, Credential = refused?.Credential, WebSocket = outcome.Summary });
        return Step.Closed;
    }

    /// <summary>The method a WebSocket's closing record names (its opening handshake's record names GET).</summary>
    public const string WebSocketCloseMethod = "WEBSOCKET";

    /// <summary>
    /// The one place a refused request is answered: its record first (so it exists whatever the client does), then
    /// the refusal (or the answer given in its place), then what the client is still sending, drained.
    /// </summary>
    internal async Task RefuseAsync(RequestExchange x, RequestRefused refused, CancellationToken ct)
    {
        var refusal = refused.Refusal;
        var up = refused.Forwarded ? x.Up : refused.Up;
        var down = (refused.Forwarded ? x.Down : 0) + (refused.Answer?.Length ?? 0);
        gate.Complete(new InspectedRequest(x.Request?.Head.Method ?? "?", x.Url, x.Verdict, refused.Forwarded, refusal.Status, refusal, up, down)
            { Path = x.Path, Mcp = refused.Mcp, Credential = refused.Credential ?? x.Credential });
        try
        {
            if (!refused.Answered) await client.WriteAsync(refused.Answer ?? refusal.ToHttpResponse(), ct);
            await client.FlushAsync(ct);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException) { } // the client went away; the record is written
        if (refused.Drain) await DrainAsync(clientReader, ct);
    }

    /// <summary>A request its front refused before the stages could take it (an HTTP/2 stream that is malformed): recorded and answered here.</summary>
    internal Task RefuseUnframedAsync(string method, Refusal refusal, CancellationToken ct) =>
        RefuseAsync(new RequestExchange(target.Authority) { Request = new ParsedRequest(new HttpRequestHead(method, "", "HTTP/2", [], BodyFraming.None, 0, null), 0) },
            new RequestRefused(refusal), ct);

    private readonly record struct NameCheck(string OriginForm, Refusal? Refusal, bool OtherDestination);

    /// <summary>
    /// The request's target and Host header must name the flow's destination. An absolute-form target wins over Host
    /// (RFC 9112 section 3.2.2), so both are checked; only the scheme prefix makes a target absolute, never a "://" in
    /// its path or query.
    /// </summary>
    private static NameCheck CheckNames(HttpRequestHead request, RelayTarget target)
    {
        var destination = target.Authority;
        NameCheck Mismatch(string what) => new("/", Refusal.ByCheck(GatewayCheck.NameMismatch, destination, what), false);
        NameCheck Malformed(string what) => new("/", Refusal.ByCheck(GatewayCheck.Malformed, destination, what, 400), false);

        string originForm;
        if (request.Target.StartsWith('/'))
        {
            if (target.Mode == RelayMode.Proxy) return Malformed("origin-form request sent to a proxy: use an absolute http:// URL");
            originForm = request.Target;
        }
        else if (request.Target == "*" && request.Method == "OPTIONS") originForm = "*";
        else if (HttpAuthority.TrySplitAbsolute(request.Target, out var scheme, out var authority, out var path))
        {
            if (scheme != target.Scheme) return Malformed($"a {scheme}:// request target on a {target.Scheme} flow");
            if (!HttpAuthority.TryParse(authority, scheme == "https" ? 443 : 80, out var named, out var port, out var error))
                return Malformed($"bad URL authority: {error}");
            if (HttpAuthority.NameOf(named) != target.Name || port != target.Port)
            {
                if (target.Mode == RelayMode.Proxy) return new(path, null, OtherDestination: true);
                return Mismatch($"the request target names '{Refusal.Printable(authority)}', not '{destination}' (domain fronting)");
            }
            originForm = path;
        }
        else return Malformed($"unsupported request target '{Refusal.Printable(request.Target)}'");

        if (request.Host is null)
        {
            if (request.Target.StartsWith('/')) return Malformed("missing Host header");
            return new(originForm, null, false); // HTTP/1.0 absolute-form: the target, checked above, names the host
        }
        if (!HttpAuthority.TryParse(request.Host, target.Port, out var host, out var hostPort, out _) || HttpAuthority.NameOf(host) != target.Name)
            return Mismatch($"the Host header '{Refusal.Printable(request.Host)}' does not name '{target.Name}' (domain fronting)");
        if (hostPort != target.Port && request.Host.Contains(':') && !request.Host.EndsWith(']'))
            return Mismatch($"the Host header '{Refusal.Printable(request.Host)}' names another port than {target.Port} (domain fronting)");
        return new(originForm, null, false);
    }

    // The pattern's name is not quoted: quotes mark a value of this one flow (replay counts refusals by the text with
    // quoted values left out), and a pattern is a category of refusal.
    // A credential's placeholder found by inspection (in a body, or encoded anywhere) is an exfiltration attempt.
    private RequestRefused SecretFound(string pattern) => gate.Credentials.ByPattern(pattern) is { } credential
        ? new RequestRefused(Refusal.CredentialExfiltration(credential, "the request's content", target.Authority)) { Drain = true, Credential = credential.Name }
        : new RequestRefused(Refusal.ByCheck(GatewayCheck.PayloadInspection, target.Authority, $"the request carries {pattern}")) { Drain = true };

    private static string? ContentType(HttpRequestHead request) => HttpHeaders.Values(request.Headers, "Content-Type").FirstOrDefault();

    private async Task<byte[]> ReadSmallBodyAsync(HttpRequestHead request, PayloadInspector.StreamScan? scan, CancellationToken ct)
    {
        using var collected = new MemoryStream((int)request.ContentLength);
        await BodyCopier.CopyExactAsync(clientReader, collected, request.ContentLength, scan, ct);
        return collected.ToArray();
    }

    // The body as framed (to forward unchanged) and its data decoded (to scan and to read), both within the rule's bound.
    private async Task<(byte[] Framed, byte[] Data)> ReadWholeBodyAsync(HttpRequestHead request, IReadOnlyList<string> codings, PayloadInspector? inspector,
        int bound, CancellationToken ct)
    {
        var tooLarge = $"a body over {bound} bytes cannot be read whole to be inspected on this rule (its maxBufferedBody)";
        if (request.Framing == BodyFraming.ContentLength && request.ContentLength > bound) throw new HttpMessageRefusedException(413, tooLarge);
        using var framed = BoundedBuffer.Refusing(bound + 64 * 1024);
        using var data = BoundedBuffer.Refusing(bound);
        var contentType = ContentType(request);
        try
        {
            await BodyCopier.CopyAsync(clientReader, framed, request.Framing, request.ContentLength, inspector?.StartStream(contentType), ct, data);
        }
        catch (BoundedBuffer.FullException)
        {
            throw new HttpMessageRefusedException(413, tooLarge);
        }
        var decoded = codings.Count == 0 ? data.ToArray() : ContentDecoding.Decode(data.ToArray(), codings, Math.Max(options.DecodedBodyLimit, bound));
        if (codings.Count > 0 && inspector?.Scan(decoded, contentType) is { } secret) throw new BodyCopier.SecretFoundException(secret);
        return (framed.ToArray(), decoded);
    }

    private const long DrainLimit = 256L << 20;
    private static readonly TimeSpan DrainTime = TimeSpan.FromSeconds(15);

    /// <summary>
    /// After a refusal sent while the client may still be sending its body: read and discard what it sends until it
    /// stops, within a bound, so the connection is not reset under the refusal (a client reads a reset, not the 403).
    /// The refusal said Connection: close, so nothing read here is ever taken for a request.
    /// </summary>
    private static async Task DrainAsync(PipeReader reader, CancellationToken ct)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(DrainTime);
        long drained = 0;
        try
        {
            while (drained < DrainLimit)
            {
                var result = await reader.ReadAsync(limit.Token);
                drained += result.Buffer.Length;
                reader.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted || result.IsCanceled) return;
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException) { } // gone, or long enough
    }

    // MCP's Streamable HTTP uses POST (messages), GET (the server's event stream) and DELETE (ending a session);
    // only a POST carries a body, and it is read whole.
    private static string? McpTransportRefusal(HttpRequestHead request) => request.Method switch
    {
        "POST" when request.Framing == BodyFraming.None || request.Framing == BodyFraming.ContentLength && request.ContentLength == 0 =>
            "an MCP POST without a JSON-RPC body",
        "POST" => null,
        "GET" or "DELETE" when request.Framing == BodyFraming.None || request.Framing == BodyFraming.ContentLength && request.ContentLength == 0 => null,
        "GET" or "DELETE" => $"an MCP {request.Method} with a body",
        _ => $"{Refusal.Printable(request.Method)} is not a method of MCP's Streamable HTTP transport (POST, GET, DELETE)",
    };

    private static async Task ConsumeAsync(PipeReader reader, int length, CancellationToken ct)
    {
        var result = await reader.ReadAsync(ct);
        reader.AdvanceTo(result.Buffer.GetPosition(length));
    }

    private const int CoalescedBodyLimit = 16 * 1024;

    // The head and its whole body in one array when the body is Content-Length framed, small, and already buffered
    // in the reader (consumed from it); null otherwise, leaving the reader untouched.
    private static byte[]? TryTakeWholeBody(PipeReader reader, HttpResponseHead response, byte[] head)
    {
        if (response.Framing != BodyFraming.ContentLength || response.ContentLength > CoalescedBodyLimit) return null;
        if (!reader.TryRead(out var result)) return null;
        var buffer = result.Buffer;
        if (buffer.Length < response.ContentLength)
        {
            reader.AdvanceTo(buffer.Start);
            return null;
        }
        var body = buffer.Slice(0, response.ContentLength);
        var whole = new byte[head.Length + body.Length];
        head.CopyTo(whole, 0);
        body.CopyTo(whole.AsSpan(head.Length));
        reader.AdvanceTo(body.End);
        return whole;
    }

    /// <summary>Reads one head; with consume false the bytes stay in the reader (the caller consumes them once it keeps the request).</summary>
    private async Task<(ReadOnlySequence<byte> Head, byte[] Bytes, bool Ended)> ReadHeadAsync(PipeReader reader, bool consume, CancellationToken ct)
    {
        while (true)
        {
            var result = await reader.ReadAsync(ct);
            var buffer = result.Buffer;
            bool complete;
            ReadOnlySequence<byte> head;
            SequencePosition after;
            try
            {
                complete = Http1Parser.TryReadHead(buffer, options.Limits, out head, out after);
            }
            catch
            {
                reader.AdvanceTo(buffer.Start);
                throw;
            }
            if (complete)
            {
                var all = buffer.Slice(0, after).ToArray();
                var headStart = (int)buffer.Slice(0, head.Start).Length; // after any empty lines before the request line
                var parsedHead = new ReadOnlySequence<byte>(all, headStart, (int)head.Length);
                reader.AdvanceTo(consume ? after : buffer.Start);
                return (parsedHead, all, false);
            }
            if (result.IsCompleted)
            {
                reader.AdvanceTo(buffer.End);
                if (buffer.IsEmpty || IsOnlyEmptyLines(buffer)) return (default, [], true);
                throw new HttpMessageRefusedException(400, "connection closed inside a head");
            }
            reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    private static bool IsOnlyEmptyLines(ReadOnlySequence<byte> buffer)
    {
        foreach (var segment in buffer)
            foreach (var b in segment.Span)
                if (b is not ((byte)'\r' or (byte)'\n')) return false;
        return true;
    }
}

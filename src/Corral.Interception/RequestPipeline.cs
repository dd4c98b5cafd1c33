using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using Corral.Interception.Http;
using Corral.Interception.Mcp;
using Corral.Policy.Compilation;
using Corral.Policy.Inspection;

namespace Corral.Interception;

/// <summary>How requests on a connection may name their destination.</summary>
public enum RelayMode
{
    /// <summary>Inside a tunnel or a decrypted or transparent flow: origin-form, or absolute-form naming the flow's own host.</summary>
    Tunnel,
    /// <summary>The explicit proxy's plain HTTP: absolute-form only; one naming another destination ends this flow.</summary>
    Proxy,
}

/// <summary>The destination a connection's requests must all name: host (normalized name or canonical address) and port.</summary>
public sealed record RelayTarget(string Scheme, string Name, int Port, RelayMode Mode)
{
    public string Authority => Port == (Scheme == "https" ? 443 : 80) ? Name : Name.Contains(':') ? $"[{Name}]:{Port}" : $"{Name}:{Port}";
}

/// <summary>Why a relay stopped.</summary>
public enum RelayEnd
{
    /// <summary>The connection is done (closed, refused, or not to be reused).</summary>
    Closed,
    /// <summary>The next request (still unread in the client's reader) names another destination: a new flow for it.</summary>
    OtherDestination,
}

/// <summary>What the gateway supplies for one flow's requests: the per-request decision and where results go.</summary>
public interface IRequestPolicy
{
    /// <summary>Decides one request by its path as sent (origin-form, query included), through the policy's one decision function.</summary>
    Verdict Decide(string path);

    /// <summary>Called once per request with its outcome (the flow log's request record).</summary>
    void OnRequest(InspectedRequest request);

    /// <summary>Whether a tool of this flow's MCP server changed since it was pinned and is held until an operator accepts it.</summary>
    bool IsToolHeld(string tool) => false;

    /// <summary>A tools/list answer from this flow's MCP server, for a rule that pins tools; returns the tools that differ from the pins.</summary>
    IReadOnlyList<string> OnToolsListed(McpToolListing listing) => [];
}

/// <summary>One request's outcome: method, URL, verdict, and the refusal when it was not forwarded.</summary>
public sealed record InspectedRequest(string Method, string Url, Verdict Verdict, bool Forwarded, int Status, Refusal? Refusal, long BytesUp, long BytesDown)
{
    /// <summary>The request's path as sent (origin-form, query included), the fact its verdict was decided on; null when it could not be read.</summary>
    public string? Path { get; init; }

    public string? DeniedBy => Refusal?.RecordText;

    /// <summary>On a rule with an mcp section: the JSON-RPC method(s) and tool(s) the request carried, and any denial.</summary>
    public McpExchange? Mcp { get; init; }
}

/// <summary>The upstream side of one flow: a connection kept for this client, lent from a pool, or opened.</summary>
internal sealed class Upstreams(UpstreamPool pool, UpstreamKey key, Func<CancellationToken, Task<UpstreamConnection>> connect)
{
    public UpstreamConnection? Current { get; set; }
    public UpstreamConnection? TryRent() => pool.TryRent(key);
    public Task<UpstreamConnection> ConnectAsync(CancellationToken ct) => connect(ct);

    /// <summary>A connection left clean goes back to the pool; anything else is closed.</summary>
    public void Release()
    {
        if (Current is not null) pool.Return(key, Current);
        Current = null;
    }
}

/// <summary>The upstream failed TLS verification.</summary>
internal sealed class UpstreamCertificateException(string message) : Exception(message);

/// <summary>
/// The one per-request pipeline, for every cleartext HTTP/1.1 request the gateway carries: plain HTTP through the
/// explicit proxy, HTTP inside a CONNECT tunnel, transparent port-80 flows and decrypted TLS. Each request is parsed
/// strictly, must name the flow's destination (Host header and any absolute-form target), is decided on its own path,
/// has its head and body (chunk extensions, trailers, and content codings decoded within a bound) scanned, and only
/// then goes upstream as a head rebuilt from what was parsed. A request it cannot parse is refused, never passed on.
/// </summary>
internal sealed class RequestPipeline(InterceptionOptions options)
{
    private static readonly HashSet<string> SafeToRetry = ["GET", "HEAD", "OPTIONS", "TRACE"];

    /// <param name="stopWaiting">Cancelled when the gateway stops: a connection waiting for its next request closes then.</param>
    public async Task<RelayEnd> RunAsync(Stream client, PipeReader clientReader, RelayTarget target, Upstreams upstreams, IRequestPolicy policy,
        PayloadInspector inspector, CancellationToken ct, CancellationToken stopWaiting)
    {
        try
        {
            while (!ct.IsCancellationRequested)
            {
                // Between requests: wait at most the idle timeout, and not at all once the gateway is stopping. A request
                // already buffered (the first one, which the gateway peeked at) needs no timer.
                var hasBuffered = false;
                if (clientReader.TryRead(out var buffered))
                {
                    clientReader.AdvanceTo(buffered.Buffer.Start);
                    if (buffered.Buffer.IsEmpty && buffered.IsCompleted) return RelayEnd.Closed;
                    hasBuffered = !buffered.Buffer.IsEmpty;
                }
                if (!hasBuffered)
                {
                    using var waiting = CancellationTokenSource.CreateLinkedTokenSource(ct, stopWaiting);
                    waiting.CancelAfter(options.IdleTimeout);
                    try
                    {
                        var result = await clientReader.ReadAsync(waiting.Token);
                        clientReader.AdvanceTo(result.Buffer.Start);
                        if (result.IsCompleted && result.Buffer.IsEmpty) return RelayEnd.Closed;
                    }
                    catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                    {
                        return RelayEnd.Closed;
                    }
                }
                var end = await RelayOneAsync(client, clientReader, target, upstreams, policy, inspector, ct);
                if (end is not null) return end.Value;
            }
            return RelayEnd.Closed;
        }
        finally
        {
            // A connection whose last response was read to its end, with neither side asking to close, is lent on;
            // anything else (mid-request, an error, Connection: close) is closed.
            upstreams.Release();
        }
    }

    // Null: go on with the next request.
    private async Task<RelayEnd?> RelayOneAsync(Stream client, PipeReader clientReader, RelayTarget target, Upstreams upstreams, IRequestPolicy policy,
        PayloadInspector inspector, CancellationToken ct)
    {
        // ---- the request head (peeked: consumed only once it is this flow's) ----
        HttpRequestHead request;
        byte[] headBytes;
        try
        {
            var (head, bytes, ended) = await ReadHeadAsync(clientReader, consume: false, ct);
            if (ended) return RelayEnd.Closed;
            headBytes = bytes;
            request = Http1Parser.ParseRequest(head, options.Limits);
        }
        catch (HttpMessageRefusedException ex)
        {
            await RefuseAsync(client, policy, "?", target.Authority, default, Refusal.ByCheck(GatewayCheck.Malformed, target.Authority, $"malformed request: {ex.Message}", ex.Status), ct);
            return RelayEnd.Closed;
        }
        catch (IOException)
        {
            return RelayEnd.Closed;
        }

        // ---- names: the request must name this flow's destination ----
        var names = CheckNames(request, target);
        if (names.OtherDestination) return RelayEnd.OtherDestination;
        await ConsumeAsync(clientReader, headBytes.Length, ct);
        var url = $"{target.Scheme}://{target.Authority}{names.OriginForm}";
        if (names.Refusal is { } nameRefusal)
        {
            await RefuseAsync(client, policy, request.Method, url, default, nameRefusal, ct);
            return RelayEnd.Closed;
        }

        // ---- the policy's verdict on this request's path ----
        var verdict = policy.Decide(names.OriginForm);
        if (!verdict.LetsThrough)
        {
            await RefuseAsync(client, policy, request.Method, url, verdict, Refusal.ByRule(verdict.Rule?.Name, target.Authority, verdict.ReasonText), ct, names.OriginForm);
            return RelayEnd.Closed;
        }
        if (RequiresUpgrade(request))
        {
            await RefuseAsync(client, policy, request.Method, url, verdict,
                Refusal.ByCheck(GatewayCheck.Upgrade, target.Authority, "protocol upgrades cannot be inspected", 501), ct, names.OriginForm);
            return RelayEnd.Closed;
        }

        var mcpRules = verdict.Rule?.Mcp;
        if (mcpRules is not null && McpTransportRefusal(request) is { } transportProblem)
        {
            await RefuseAsync(client, policy, request.Method, url, verdict, Refusal.ByRule(verdict.Rule!.Name, target.Authority, transportProblem, 400), ct,
                names.OriginForm, mcp: new McpExchange("(none)", null, true, transportProblem));
            return RelayEnd.Closed;
        }

        // ---- payload inspection: head, then body ----
        var inspect = verdict.Enforced && !inspector.IsEmpty;
        var contentType = HttpHeaders.Values(request.Headers, "Content-Type").FirstOrDefault();
        var scan = inspect ? inspector.StartStream(contentType) : null;
        var bodyBound = verdict.Rule?.MaxBufferedBody ?? options.BufferedBodyLimit;
        if (scan?.ScanApart(ScannableHead(request, names.OriginForm, inspector)) is { } headSecret)
        {
            await RefuseAsync(client, policy, request.Method, url, verdict, SecretRefusal(target, headSecret), ct, names.OriginForm);
            await DrainAsync(clientReader, ct);
            return RelayEnd.Closed;
        }
        if (HttpHeaders.HasToken(request.Headers, "Expect", "100-continue"))
            await client.WriteAsync("HTTP/1.1 100 Continue\r\n\r\n"u8.ToArray(), ct);

        // Bodies read whole before anything goes upstream: small Content-Length ones (scanned as they arrive), and,
        // when inspecting, any body with a content coding (decoded within a bound, then scanned).
        // An MCP rule's body is read whole, whatever its framing, and decided message by message before it goes on.
        byte[]? bufferedBody = null;
        McpGate.Decision? mcpDecision = null;
        var readsMcp = mcpRules is not null && request.Framing != BodyFraming.None;
        var encoded = inspect && ContentCodings(request) is { Count: > 0 };
        if (readsMcp || encoded || (request.Framing == BodyFraming.ContentLength && request.ContentLength <= options.BufferedBodyLimit))
        {
            try
            {
                if (readsMcp)
                {
                    var (framed, data) = await ReadWholeBodyAsync(clientReader, request, inspect ? inspector : null, bodyBound, ct);
                    bufferedBody = framed;
                    var ruleName = verdict.Rule!.Name;
                    if (JsonRpcBody.TryParse(data, out var notJsonRpc) is not { } rpc)
                    {
                        var reason = $"not a JSON-RPC request on a rule with an mcp section: {notJsonRpc}";
                        await RefuseAsync(client, policy, request.Method, url, verdict, Refusal.ByRule(ruleName, target.Authority, reason, 400), ct,
                            names.OriginForm, mcp: new McpExchange("(invalid)", null, true, reason));
                        return RelayEnd.Closed;
                    }
                    mcpDecision = McpGate.Decide(rpc, mcpRules!, ruleName, policy.IsToolHeld);
                    if (mcpDecision.Exchange.Denied && verdict.Enforced)
                    {
                        await AnswerDeniedCallAsync(client, policy, request.Method, url, names.OriginForm, verdict, mcpDecision, target, headBytes.Length + framed.Length, ct);
                        return RelayEnd.Closed;
                    }
                }
                else bufferedBody = encoded
                    ? (await ReadWholeBodyAsync(clientReader, request, inspector, bodyBound, ct)).Framed
                    : await ReadSmallBodyAsync(clientReader, request, scan, ct);
            }
            catch (BodyCopier.SecretFoundException secret)
            {
                await RefuseAsync(client, policy, request.Method, url, verdict, SecretRefusal(target, secret.Pattern), ct, names.OriginForm);
                await DrainAsync(clientReader, ct);
                return RelayEnd.Closed;
            }
            catch (HttpMessageRefusedException ex)
            {
                var refusal = ex.Status is 413 or 415
                    ? Refusal.ByCheck(GatewayCheck.UninspectableBody, target.Authority, ex.Message, ex.Status)
                    : Refusal.ByCheck(GatewayCheck.Malformed, target.Authority, $"malformed request body: {ex.Message}", ex.Status);
                await RefuseAsync(client, policy, request.Method, url, verdict, refusal, ct, names.OriginForm);
                if (ex.Status is 413 or 415) await DrainAsync(clientReader, ct);
                return RelayEnd.Closed;
            }
        }

        // ---- upstream: kept per client connection, lent from the pool, or connected ----
        // A reused connection (one that already served a response) may have been closed by the upstream while idle;
        // when it fails before any response byte, a request that is safe to send again (idempotent method, no body)
        // is sent once more on a fresh connection. Anything else gets a 502: it may have reached the upstream.
        var canRetry = SafeToRetry.Contains(request.Method) && (request.Framing == BodyFraming.None || (request.Framing == BodyFraming.ContentLength && request.ContentLength == 0));
        var retried = false;
        long up, down = 0;
        UpstreamConnection upstream;
        (ReadOnlySequence<byte> Head, byte[] Bytes, bool Ended) first;
        // A new upstream connection; or null once the client has its 502 and the request its record.
        async Task<UpstreamConnection?> ConnectOrRefuseAsync()
        {
            try
            {
                return await upstreams.ConnectAsync(ct);
            }
            catch (UpstreamCertificateException ex)
            {
                await RefuseAsync(client, policy, request.Method, url, verdict, Refusal.ByCheck(GatewayCheck.Upstream, target.Authority, ex.Message, 502), ct, names.OriginForm);
            }
            catch (Exception ex) when (ex is System.Net.Sockets.SocketException or TimeoutException or IOException)
            {
                await RefuseAsync(client, policy, request.Method, url, verdict,
                    Refusal.ByCheck(GatewayCheck.Upstream, target.Authority, $"upstream {target.Authority} unreachable: {ex.Message}", ex is TimeoutException ? 504 : 502), ct, names.OriginForm);
            }
            return null;
        }
        var forwardedHead = SerializeRequestHead(request, names.OriginForm);
        while (true)
        {
            var existing = upstreams.Current ?? upstreams.TryRent();
            if (existing is null && (existing = await ConnectOrRefuseAsync()) is null) return RelayEnd.Closed;
            upstream = existing;
            upstreams.Current = upstream;
            var reused = upstream.Served > 0;
            upstream.Clean = false;
            if (HttpHeaders.Values(request.Headers, "Authorization").Any(IsConnectionBoundAuth)) upstream.Poolable = false;

            up = headBytes.Length;
            var failed = false;
            first = (default, [], false);
            var sending = upstream;
            async Task UpstreamFailedAsync(IOException ex)
            {
                await sending.DisposeAsync();
                upstreams.Current = null;
                await RefuseAsync(client, policy, request.Method, url, verdict,
                    Refusal.ByCheck(GatewayCheck.Upstream, target.Authority, $"upstream {target.Authority} connection failed: {ex.Message}", 502), ct, names.OriginForm);
            }
            try
            {
                await upstream.Stream.WriteAsync(forwardedHead, ct);
                if (bufferedBody is not null) await upstream.Stream.WriteAsync(bufferedBody, ct);
                else up += await BodyCopier.CopyAsync(clientReader, upstream.Stream, request.Framing, request.ContentLength, scan, ct);
                up += bufferedBody?.Length ?? 0;
                await upstream.Stream.FlushAsync(ct);
            }
            catch (BodyCopier.SecretFoundException secret)
            {
                // The upstream saw an unfinished request (its Content-Length or last chunk never arrives); drop the
                // connection so it is never completed, then answer the client and read what it is still sending.
                await upstream.DisposeAsync();
                upstreams.Current = null;
                await RefuseAsync(client, policy, request.Method, url, verdict, SecretRefusal(target, secret.Pattern), ct, names.OriginForm);
                await DrainAsync(clientReader, ct);
                return RelayEnd.Closed;
            }
            catch (HttpMessageRefusedException ex)
            {
                await upstream.DisposeAsync();
                upstreams.Current = null;
                await RefuseAsync(client, policy, request.Method, url, verdict,
                    Refusal.ByCheck(GatewayCheck.Malformed, target.Authority, $"malformed request body: {ex.Message}", ex.Status), ct, names.OriginForm);
                return RelayEnd.Closed;
            }
            catch (IOException) when (reused && canRetry && !retried)
            {
                failed = true;
            }
            catch (IOException ex)
            {
                // Not retryable (a body, an unsafe method, or already a fresh connection): answer and record it, never just drop.
                await UpstreamFailedAsync(ex);
                return RelayEnd.Closed;
            }
            if (!failed)
            {
                try
                {
                    first = await ReadHeadAsync(upstream.Reader, consume: true, ct);
                }
                catch (IOException) when (reused && canRetry && !retried)
                {
                    failed = true;
                }
                catch (IOException ex)
                {
                    await UpstreamFailedAsync(ex);
                    return RelayEnd.Closed;
                }
            }
            if (failed || first.Ended && reused && canRetry && !retried)
            {
                await upstream.DisposeAsync();
                upstreams.Current = null;
                retried = true;
                // Straight to a fresh connection: another pooled one may be just as stale.
                if (await ConnectOrRefuseAsync() is not { } fresh) return RelayEnd.Closed;
                upstreams.Current = fresh;
                continue;
            }
            break;
        }

        // ---- the response ----
        HttpResponseHead response;
        while (true)
        {
            var (head, bytes, ended) = first;
            if (ended)
            {
                await RefuseAsync(client, policy, request.Method, url, verdict,
                    Refusal.ByCheck(GatewayCheck.Upstream, target.Authority, "upstream closed without a response", 502), ct, names.OriginForm, up, down, forwarded: true);
                return RelayEnd.Closed;
            }
            try
            {
                response = Http1Parser.ParseResponse(head, options.Limits, request.Method);
            }
            catch (HttpMessageRefusedException ex)
            {
                await RefuseAsync(client, policy, request.Method, url, verdict,
                    Refusal.ByCheck(GatewayCheck.Upstream, target.Authority, $"malformed response from upstream: {ex.Message}", 502), ct, names.OriginForm, up, down, forwarded: true);
                return RelayEnd.Closed;
            }
            if (response.Status is >= 100 and < 200 && response.Status != 101)
            {
                await client.WriteAsync(bytes, ct);
                down += bytes.Length;
                first = await ReadHeadAsync(upstream.Reader, consume: true, ct);
                continue;
            }
            break;
        }
        // On a rule that pins tools, every response body passes the listing guard: a listing is compared with the pins
        // before any byte of it reaches the client (which may call a changed tool at once, on another connection, and
        // that call must meet the hold), and one that cannot be compared never reaches it.
        var exchange = mcpDecision?.Exchange;
        if (mcpRules is { PinsTools: true } && response.Framing != BodyFraming.None)
        {
            var guard = new McpListingGuard(options, policy, mcpDecision?.Body, verdict.Rule!.Name, target.Authority);
            var guarded = await guard.RelayAsync(upstream.Reader, client, response, first.Bytes, ct);
            down += guarded.Down;
            if (guard.Changed.Count > 0) exchange = (exchange ?? new McpExchange($"({request.Method} stream)", null, false, null)) with { ToolsChanged = guard.Changed };
            if (guarded.Refusal is { } withheld)
            {
                await client.FlushAsync(ct);
                policy.OnRequest(new InspectedRequest(request.Method, url, verdict, true, guarded.Status, withheld, up, down) { Path = names.OriginForm, Mcp = exchange });
                return RelayEnd.Closed; // the rest of the answer may still be on the upstream connection: never reused
            }
        }
        // A small Content-Length body that has already arrived goes out with its head in one write (one TLS record,
        // one send) instead of two; everything else is relayed as it comes.
        else if (TryTakeWholeBody(upstream.Reader, response, first.Bytes) is { } whole)
        {
            await client.WriteAsync(whole, ct);
            down += whole.Length;
        }
        else
        {
            await client.WriteAsync(first.Bytes, ct);
            down += first.Bytes.Length;
            down += await BodyCopier.CopyAsync(upstream.Reader, client, response.Framing, response.ContentLength, null, ct);
        }
        await client.FlushAsync(ct);
        policy.OnRequest(new InspectedRequest(request.Method, url, verdict, true, response.Status, null, up, down) { Path = names.OriginForm, Mcp = exchange });
        // Each hop closes on its own terms: a client that asked to close (an agent's one call per connection) ends
        // its hop, while the upstream connection, which was not asked to close, stays clean for the next flow.
        var upstreamKept = !ForwardedWantsClose(request) && !response.WantsClose && response.Status != 101;
        var clientKept = upstreamKept && !request.WantsClose;
        upstream.Served++;
        if (HttpHeaders.Values(response.Headers, "WWW-Authenticate").Any(IsConnectionBoundAuth)) upstream.Poolable = false;
        upstream.Clean = upstreamKept;
        return clientKept ? null : RelayEnd.Closed;
    }

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
    private static Refusal SecretRefusal(RelayTarget target, string pattern) =>
        Refusal.ByCheck(GatewayCheck.PayloadInspection, target.Authority, $"the request carries {pattern}");

    private async Task<byte[]> ReadSmallBodyAsync(PipeReader reader, HttpRequestHead request, PayloadInspector.StreamScan? scan, CancellationToken ct)
    {
        using var collected = new MemoryStream((int)request.ContentLength);
        await BodyCopier.CopyExactAsync(reader, collected, request.ContentLength, scan, ct);
        return collected.ToArray();
    }

    // The body as framed (to forward unchanged) and its data decoded (to scan and to read), both within the rule's bound.
    private async Task<(byte[] Framed, byte[] Data)> ReadWholeBodyAsync(PipeReader reader, HttpRequestHead request, PayloadInspector? inspector, int bound,
        CancellationToken ct)
    {
        var tooLarge = $"a body over {bound} bytes cannot be read whole to be inspected on this rule (its maxBufferedBody)";
        if (request.Framing == BodyFraming.ContentLength && request.ContentLength > bound) throw new HttpMessageRefusedException(413, tooLarge);
        using var framed = new BoundedStream(bound + 64 * 1024);
        using var data = new BoundedStream(bound);
        var contentType = HttpHeaders.Values(request.Headers, "Content-Type").FirstOrDefault();
        try
        {
            await BodyCopier.CopyAsync(reader, framed, request.Framing, request.ContentLength, inspector?.StartStream(contentType), ct, data);
        }
        catch (BoundedStream.FullException)
        {
            throw new HttpMessageRefusedException(413, tooLarge);
        }
        var codings = ContentCodings(request);
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

    private static async Task AnswerDeniedCallAsync(Stream client, IRequestPolicy policy, string method, string url, string path, Verdict verdict, McpGate.Decision decision,
        RelayTarget target, long up, CancellationToken ct)
    {
        var rule = verdict.Rule!.Name;
        if (McpGate.DeniedResponse(decision, rule) is not { } answer)
        {
            // Only notifications or responses: nothing to answer by id, so the transport's HTTP error.
            await RefuseAsync(client, policy, method, url, verdict, Refusal.ByRule(rule, target.Authority, decision.Exchange.Reason!), ct, path, up, mcp: decision.Exchange);
            return;
        }
        policy.OnRequest(new InspectedRequest(method, url, verdict, false, 200, Refusal.ByRule(rule, target.Authority, decision.Exchange.Reason!, 200), up, answer.Length)
            { Path = path, Mcp = decision.Exchange });
        try
        {
            await client.WriteAsync(answer, ct);
            await client.FlushAsync(ct);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException) { } // the client went away; the record is written
    }

    private static List<string> ContentCodings(HttpRequestHead request) =>
        HttpHeaders.Values(request.Headers, "Content-Encoding").SelectMany(v => v.Split(','))
            .Select(t => t.Trim().ToLowerInvariant()).Where(t => t.Length > 0 && t != "identity").ToList();

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

    // NTLM and Negotiate authenticate the connection, not the request: such a connection must stay with its client.
    private static bool IsConnectionBoundAuth(string value) =>
        value.TrimStart().StartsWith("NTLM", StringComparison.OrdinalIgnoreCase) || value.TrimStart().StartsWith("Negotiate", StringComparison.OrdinalIgnoreCase);

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

    // What payload inspection sees of a head: everything but the credentials meant for the destination itself.
    private static byte[] ScannableHead(HttpRequestHead request, string originForm, PayloadInspector inspector)
    {
        var sb = new StringBuilder();
        sb.Append(request.Method).Append(' ').Append(originForm).Append("\r\n");
        foreach (var h in request.Headers)
        {
            if (!inspector.Settings.ScansHeader(h.Name)) continue;
            sb.Append(h.Name).Append(": ").Append(h.Value).Append("\r\n");
        }
        return Encoding.Latin1.GetBytes(sb.ToString());
    }

    // The upstream gets a canonical head built from what was parsed, never the client's raw bytes, and always in
    // origin-form: an upstream never sees an absolute target it might route by. Connection and the fields it names
    // are the client's hop only (RFC 9110 7.6.1), except those that frame or route the message: naming
    // Content-Length, Transfer-Encoding or Host there must not unframe what goes upstream. The gateway states its own
    // option only where the protocol needs it: an HTTP/1.0 request that keeps its connection alive.
    /// <summary>
    /// Whether the request asks for an upgrade that what follows it would need (WebSocket): refused, since the gateway
    /// could not inspect it. An offer of h2c alone is optional for the server (RFC 9110 7.8): it is dropped with
    /// HTTP2-Settings (<see cref="SerializeRequestHead"/>) and the request goes on as HTTP/1.1, as other proxies do.
    /// </summary>
    private static bool RequiresUpgrade(HttpRequestHead request)
    {
        foreach (var value in HttpHeaders.Values(request.Headers, "Upgrade"))
            foreach (var token in value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
                if (!token.Equals("h2c", StringComparison.OrdinalIgnoreCase)) return true;
        return false;
    }

    /// <summary>An upgrade offer the gateway dropped (only h2c gets this far): never forwarded, named in Connection or not.</summary>
    private static bool IsDroppedUpgradeOffer(string name) =>
        name.Equals("Upgrade", StringComparison.OrdinalIgnoreCase) || name.Equals("HTTP2-Settings", StringComparison.OrdinalIgnoreCase);

    private static byte[] SerializeRequestHead(HttpRequestHead request, string originForm)
    {
        var hopOnly = HopByHopNames(request.Headers);
        var sb = new StringBuilder();
        sb.Append(request.Method).Append(' ').Append(originForm).Append(' ').Append(request.Version).Append("\r\n");
        foreach (var h in request.Headers)
        {
            if (h.Name.StartsWith("Proxy-", StringComparison.OrdinalIgnoreCase)) continue;
            if (h.Name.Equals("Keep-Alive", StringComparison.OrdinalIgnoreCase)) continue;
            if (h.Name.Equals("Connection", StringComparison.OrdinalIgnoreCase)) continue;
            if (h.Name.Equals("Expect", StringComparison.OrdinalIgnoreCase)) continue; // answered here
            if (IsDroppedUpgradeOffer(h.Name)) continue;
            if (hopOnly is not null && hopOnly.Contains(h.Name) && !FramesOrRoutes(h.Name)) continue;
            sb.Append(h.Name).Append(": ").Append(h.Value).Append("\r\n");
        }
        if (request.Version == "HTTP/1.0" && !request.WantsClose) sb.Append("Connection: keep-alive\r\n");
        sb.Append("\r\n");
        return Encoding.Latin1.GetBytes(sb.ToString());
    }

    /// <summary>Whether the head the upstream gets asks it to close: only HTTP/1.0 without keep-alive (the client's own close stays on its hop).</summary>
    private static bool ForwardedWantsClose(HttpRequestHead request) => request.Version == "HTTP/1.0" && request.WantsClose;

    private static bool FramesOrRoutes(string name) =>
        name.Equals("Host", StringComparison.OrdinalIgnoreCase) || name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)
        || name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase);

    /// <summary>The field names the Connection header lists (null when it lists none).</summary>
    private static HashSet<string>? HopByHopNames(IReadOnlyList<HttpHeader> headers)
    {
        HashSet<string>? names = null;
        foreach (var value in HttpHeaders.Values(headers, "Connection"))
            foreach (var token in value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
                (names ??= new HashSet<string>(StringComparer.OrdinalIgnoreCase)).Add(token);
        return names;
    }

    private static async Task RefuseAsync(Stream client, IRequestPolicy policy, string method, string url, Verdict verdict, Refusal refusal, CancellationToken ct,
        string? path = null, long up = 0, long down = 0, bool forwarded = false, McpExchange? mcp = null)
    {
        policy.OnRequest(new InspectedRequest(method, url, verdict, forwarded, refusal.Status, refusal, up, down) { Path = path, Mcp = mcp });
        try
        {
            await client.WriteAsync(refusal.ToHttpResponse(), ct);
            await client.FlushAsync(ct);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException) { } // the client went away; the record is written
    }
}

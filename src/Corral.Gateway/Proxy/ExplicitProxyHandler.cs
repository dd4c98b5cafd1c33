using System.Net.Sockets;
using Corral.Gateway.Sniffing;
using Corral.Interception;
using Corral.Interception.Http;

namespace Corral.Gateway.Proxy;

/// <summary>
/// The explicit proxy (HTTP_PROXY/HTTPS_PROXY). Each request head is parsed by the one HTTP/1.1 parser: CONNECT opens
/// a decided tunnel whose first bytes are checked before it is carried; an absolute-form request starts a flow to its
/// destination whose requests go through the one request pipeline, until one names another destination (a new flow).
/// </summary>
internal sealed class ExplicitProxyHandler(GatewayContext context)
{
    public async Task HandleAsync(Socket socket, CancellationToken ct)
    {
        await using var client = new ClientConnection(socket, "explicit", context);
        var limits = context.Limits;
        CancellationTokenSource? betweenRequests = null; // only a kept-alive connection needs it (not a CONNECT)
        try
        {
            ParsedRequest? next = null; // a request the last flow left unread (another destination), its head parsed once there
            for (var first = true; ; first = false)
            {
                if (!first && context.Stopping) return;
                var request = next;
                if (request is null)
                {
                    var peek = new HttpRequestPeek(context.HttpLimits);
                    // Between requests a graceful shutdown need not wait for the idle timeout: stop waiting for the next one.
                    if (!first) betweenRequests ??= CancellationTokenSource.CreateLinkedTokenSource(ct, context.StoppingToken);
                    var outcome = await PipePeek.PeekAsync(client.Reader, peek, limits.MaxHeadBytes + 1, first ? limits.HeadTimeout : limits.IdleTimeout,
                        first ? ct : betweenRequests!.Token).ConfigureAwait(false);
                    switch (outcome)
                    {
                        case PeekOutcome.Done: break;
                        case PeekOutcome.Closed: return;
                        case PeekOutcome.TimedOut when !first: return; // an idle kept-alive connection
                        case PeekOutcome.Invalid: await RefuseInputAsync(client, peek.Status, $"malformed request: {peek.Error}").ConfigureAwait(false); return;
                        case PeekOutcome.TooLarge: await RefuseInputAsync(client, 431, $"request head larger than {limits.MaxHeadBytes} bytes").ConfigureAwait(false); return;
                        case PeekOutcome.TimedOut: await RefuseInputAsync(client, 408, $"request head not complete within {limits.HeadTimeout.TotalSeconds:0.#} s").ConfigureAwait(false); return;
                        default: await RefuseInputAsync(client, 400, "the client closed in the middle of a request head").ConfigureAwait(false); return;
                    }
                    request = peek.Parsed!;
                }
                if (request.Head.Method == "CONNECT")
                {
                    await ConsumeAsync(client, request.Length, ct).ConfigureAwait(false);
                    await ConnectAsync(client, request.Head, ct).ConfigureAwait(false);
                    return;
                }
                if ((next = await PlainAsync(client, request, ct).ConfigureAwait(false)) is null) return;
            }
        }
        finally
        {
            betweenRequests?.Dispose();
        }
    }

    /// <summary>A CONNECT whose head is consumed: decide, dial, answer 200, then check the tunnel's first bytes and carry it.</summary>
    private async Task ConnectAsync(ClientConnection client, HttpRequestHead head, CancellationToken ct)
    {
        await using var session = new FlowSession(client, "CONNECT", head.Target);
        session.Authenticate(ProxyAuthorization(head));
        if (!HttpAuthority.TryParse(head.Target, defaultPort: null, out var destination, out var port, out var error))
        {
            session.Refuse(Refusal.ByCheck(GatewayCheck.Malformed, Refusal.Printable(head.Target), $"bad CONNECT target: {error}", 400));
            await AnswerAsync(client, session).ConfigureAwait(false);
            return;
        }
        // TLS is assumed on 443 only, as explain does; what the stream really is gets checked before it is carried.
        await session.DecideAsync(destination, port, isTls: port == 443, ct).ConfigureAwait(false);
        if (session.Refusal is not null)
        {
            await AnswerAsync(client, session).ConfigureAwait(false);
            return;
        }

        // Dial before answering, so a dead upstream is a 502 the agent can read rather than a 200 and a close. No byte
        // goes upstream until the tunnel's first bytes have passed the checks. A flow to be decrypted for which a
        // verified connection is already pooled needs no new one.
        Socket? upstream = null;
        try
        {
            var pooled = context.Interceptor is { } interceptor && session.Decision.Verdict.Decrypt && destination.Host is not null
                && interceptor.HasIdleUpstream(session.Name, session.DialTo!);
            if (!pooled) upstream = await Dialer.ConnectAsync(session.DialTo!, context.Limits.ConnectTimeout, context.DialGuard, ct, resumeOnPool: false).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or TimeoutException)
        {
            session.Refuse(Refusal.ByCheck(GatewayCheck.Upstream, session.Authority, $"cannot reach {session.Authority} ({session.DialTo}): {e.Message}",
                e is TimeoutException ? 504 : 502));
            await AnswerAsync(client, session).ConfigureAwait(false);
            return;
        }
        try
        {
            await client.SendAsync(Responses.ConnectEstablished, ct).ConfigureAwait(false);
        }
        catch
        {
            upstream?.Dispose();
            throw;
        }
        var sniffed = await StreamSniffer.SniffAsync(client, ct).ConfigureAwait(false);
        await Tunnel.CarryAsync(client, session, sniffed, named: destination.Host is not null, upstream, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// An absolute-form request: a flow to the destination it names, whose requests the request pipeline carries (the
    /// first one as parsed here). Returns the next request when the connection carries on to another destination.
    /// </summary>
    private async Task<ParsedRequest?> PlainAsync(ClientConnection client, ParsedRequest request, CancellationToken ct)
    {
        var head = request.Head;
        await using var session = new FlowSession(client, head.Method, head.Target);
        session.Authenticate(ProxyAuthorization(head));
        if (!HttpAuthority.TrySplitAbsolute(head.Target, out var scheme, out var authority, out _) || scheme != "http")
        {
            var what = head.Target.StartsWith('/') ? "origin-form request sent to a proxy: use an absolute http:// URL"
                : $"unsupported request target '{Refusal.Printable(head.Target)}' (only http:// URLs and CONNECT)";
            session.Refuse(Refusal.ByCheck(GatewayCheck.Malformed, Refusal.Printable(head.Target), what, 400));
            await AnswerAsync(client, session).ConfigureAwait(false);
            return null;
        }
        if (!HttpAuthority.TryParse(authority, 80, out var destination, out var port, out var error))
        {
            session.Refuse(Refusal.ByCheck(GatewayCheck.Malformed, Refusal.Printable(authority), $"bad URL authority: {error}", 400));
            await AnswerAsync(client, session).ConfigureAwait(false);
            return null;
        }
        await session.DecideAsync(destination, port, isTls: false, ct).ConfigureAwait(false);
        if (port == 443) session.Refuse(Refusal.ByCheck(GatewayCheck.NotTlsOn443, session.Authority, "only TLS may use port 443"));
        if (session.Refusal is not null)
        {
            await AnswerAsync(client, session).ConfigureAwait(false);
            return null;
        }
        session.Admit();
        using var upstream = new Tunnel.PreDialed(null);
        var end = await Tunnel.RelayAsync(client, session, new RelayTarget("http", session.Name, port, RelayMode.Proxy), upstream, request, ct).ConfigureAwait(false);
        return end.End == RelayEnd.OtherDestination && !context.Stopping ? end.Next : null;
    }

    /// <summary>Answers a refused flow with its refusal; admitting it writes its decision record.</summary>
    private static async Task AnswerAsync(ClientConnection client, FlowSession session)
    {
        session.Admit();
        try { await client.SendAsync(session.Refusal!.ToHttpResponse(), CancellationToken.None).ConfigureAwait(false); }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException) { }
    }

    /// <summary>A head the parser refused: a flow of its own with its refusal, and the answer.</summary>
    private static async Task RefuseInputAsync(ClientConnection client, int status, string problem)
    {
        await using var session = new FlowSession(client, null, null);
        session.Refuse(Refusal.ByCheck(GatewayCheck.Malformed, "-", problem, status));
        await AnswerAsync(client, session).ConfigureAwait(false);
    }

    /// <summary>
    /// The client's Proxy-Authorization, read only here (the request pipeline drops every Proxy- header before a head goes
    /// upstream). Two of them are ambiguous and count as a bad one ("" identifies no agent).
    /// </summary>
    private static string? ProxyAuthorization(HttpRequestHead head)
    {
        string? found = null;
        foreach (var value in HttpHeaders.Values(head.Headers, "Proxy-Authorization"))
        {
            if (found is not null) return "";
            found = value;
        }
        return found;
    }

    private static async Task ConsumeAsync(ClientConnection client, int length, CancellationToken ct)
    {
        var result = await client.Reader.ReadAsync(ct).ConfigureAwait(false);
        client.Reader.AdvanceTo(result.Buffer.GetPosition(length));
    }
}

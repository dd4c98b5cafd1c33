using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Corral.Gateway.Http;
using Microsoft.Extensions.Logging;

namespace Corral.Gateway.Proxy;

/// <summary>
/// The explicit proxy (HTTP_PROXY/HTTPS_PROXY): reads request heads on a kept-alive connection, hands absolute-form
/// HTTP requests to the <see cref="HttpForwarder"/> and turns CONNECT into a decided, checked, spliced tunnel.
/// </summary>
internal sealed class ExplicitProxyHandler(GatewayContext context)
{
    public async Task HandleAsync(Socket socket, CancellationToken ct)
    {
        await using var client = new ClientConnection(socket, "explicit", context);
        await using var http = new HttpForwarder(client);
        var limits = context.Limits;
        CancellationTokenSource? betweenRequests = null; // only a kept-alive connection needs it (not a CONNECT)
        try
        {
            for (var first = true; ; first = false)
            {
                if (!first && context.Stopping) return;
                var parser = new HttpHeadParser(isRequest: true);
                // Between requests a graceful shutdown need not wait for the idle timeout: stop waiting for the next one.
                if (!first) betweenRequests ??= CancellationTokenSource.CreateLinkedTokenSource(ct, context.StoppingToken);
                var outcome = await PipePeek.PeekAsync(client.Reader, parser, limits.MaxHeadBytes, first ? limits.HeadTimeout : limits.IdleTimeout,
                    first ? ct : betweenRequests!.Token).ConfigureAwait(false);
                switch (outcome)
                {
                    case PeekOutcome.Done: break;
                    case PeekOutcome.Closed: return;
                    case PeekOutcome.TimedOut when !first: return; // an idle kept-alive connection
                    case PeekOutcome.Invalid: await http.RefuseAsync(400, "Bad Request", $"malformed request: {parser.Error}", null).ConfigureAwait(false); return;
                    case PeekOutcome.TooLarge: await http.RefuseAsync(431, "Request Header Fields Too Large", $"request head larger than {limits.MaxHeadBytes} bytes", null).ConfigureAwait(false); return;
                    case PeekOutcome.TimedOut: await http.RefuseAsync(408, "Request Timeout", $"request head not complete within {limits.HeadTimeout.TotalSeconds:0.#} s", null).ConfigureAwait(false); return;
                    default: client.LogRefusal("client closed in the middle of a request head"); return;
                }
                var head = parser.Head!;
                await ConsumeAsync(client, head.Length, ct).ConfigureAwait(false);

                if (head.First == "CONNECT")
                {
                    await ConnectAsync(client, http, head, ct).ConfigureAwait(false);
                    return;
                }
                if (!TryAbsoluteTarget(head.Second, out var target, out var error))
                {
                    await http.RefuseAsync(400, "Bad Request", error!, null).ConfigureAwait(false);
                    return;
                }
                if (!await http.ForwardAsync(head, target, ct).ConfigureAwait(false)) return;
            }
        }
        finally
        {
            betweenRequests?.Dispose();
        }
    }

    private async Task ConnectAsync(ClientConnection client, HttpForwarder http, HttpHead head, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        if (!Authority.TryParse(head.Second, defaultPort: null, out var destination, out var port, out var error))
        {
            await http.RefuseAsync(400, "Bad Request", $"bad CONNECT target: {error}", null).ConfigureAwait(false);
            return;
        }
        var flowId = context.NewFlowId();
        // TLS is assumed on 443 only, as explain does; what the stream really is gets checked below before dialling.
        var decision = await context.Decider.DecideAsync(client.Source.Address, destination, port, null, isTls: port == 443, ct).ConfigureAwait(false);
        var name = destination.Host;
        if (decision.Refusal is not null)
        {
            client.LogDecision(flowId, decision.Flow, null, null, "CONNECT", head.Second, decision.Refusal);
            context.Logger.LogInformation("Flow {FlowId} CONNECT {Target}: {Refusal}", flowId, head.Second, decision.Refusal);
            await SendQuietlyAsync(client, Responses.Error(502, "Bad Gateway", decision.Refusal)).ConfigureAwait(false);
            client.LogClose(flowId, null, name, 0, 0, Elapsed(started), decision.Refusal);
            return;
        }
        var dialTo = new IPEndPoint(decision.DialAddress, port);
        if (decision.LetsThrough && context.Self.IsSelf(dialTo))
        {
            var loop = $"{dialTo} is the gateway itself: refusing a proxy loop";
            client.LogDecision(flowId, decision.Flow, null, dialTo, "CONNECT", head.Second, loop);
            context.Logger.LogWarning("Flow {FlowId} CONNECT {Target} from {Source} refused: {Refusal}", flowId, head.Second, client.Source, loop);
            await SendQuietlyAsync(client, Responses.Denied($"{name ?? dialTo.Address.ToString()}:{port}", null, loop)).ConfigureAwait(false);
            client.LogClose(flowId, dialTo, name, 0, 0, Elapsed(started), loop);
            return;
        }
        if (!decision.LetsThrough)
        {
            client.LogDecision(flowId, decision.Flow, decision.Verdict, dialTo, "CONNECT", head.Second, null);
            context.Logger.LogInformation("Flow {FlowId} CONNECT {Target} denied: {Reason}", flowId, head.Second, decision.Verdict.ReasonText);
            await SendQuietlyAsync(client, Responses.Denied($"{name ?? dialTo.Address.ToString()}:{port}", decision.Verdict, null)).ConfigureAwait(false);
            client.LogClose(flowId, dialTo, name, 0, 0, Elapsed(started));
            return;
        }

        // Permitted by policy so far. Look at the tunnel's first bytes before anything goes upstream: the SNI or Host
        // must agree with the CONNECT authority, and 443 must carry TLS.
        await client.SendAsync(Responses.ConnectEstablished, ct).ConfigureAwait(false);
        var sniffed = await StreamSniffer.SniffAsync(client, ct).ConfigureAwait(false);
        var expected = name ?? Policy.Addressing.IpBits.Canonical(destination.Address!).ToString();
        var refusal = Tunnel.Check(sniffed, expected, port);
        if (refusal is null && sniffed.Kind == StreamKind.Closed)
        {
            client.LogDecision(flowId, decision.Flow, decision.Verdict, dialTo, "CONNECT", head.Second, null);
            client.LogClose(flowId, dialTo, name, 0, 0, Elapsed(started), sniffed.Problem);
            return;
        }
        if (refusal is null && sniffed.Kind is StreamKind.Tls && port != 443)
        {
            // The stream is TLS where the decision assumed plain: decide again with the true fact and keep the stricter.
            var again = context.Decider.Redecide(decision, isTls: true);
            if (!again.LetsThrough) decision = again;
        }
        if (refusal is not null || !decision.LetsThrough)
        {
            client.LogDecision(flowId, decision.Flow, refusal is null ? decision.Verdict : null, dialTo, "CONNECT", head.Second, refusal);
            context.Logger.LogWarning("Flow {FlowId} CONNECT {Target} from {Source} refused: {Refusal}", flowId, head.Second, client.Source, refusal ?? decision.Verdict.ReasonText);
            if (sniffed.IsTls || sniffed.Kind == StreamKind.Bad) await SendQuietlyAsync(client, Responses.TlsAccessDenied).ConfigureAwait(false);
            else if (sniffed.Kind == StreamKind.Http) await SendQuietlyAsync(client, Responses.Denied($"{expected}:{port}", null, refusal)).ConfigureAwait(false);
            client.LogClose(flowId, dialTo, name, 0, 0, Elapsed(started), refusal);
            return;
        }
        var intercept = Tunnel.ShouldIntercept(context, decision, sniffed);
        client.LogDecision(flowId, decision.Flow, decision.Verdict, dialTo, "CONNECT", head.Second, null, decrypted: intercept);
        if (intercept) await Tunnel.InterceptAsync(client, flowId, decision, port, started, ct).ConfigureAwait(false);
        else await Tunnel.SpliceAsync(client, flowId, decision, port, started, ct).ConfigureAwait(false);
    }

    /// <summary>"http://host[:port]/path?query" → where to go; anything else is refused (a proxy only takes absolute-form).</summary>
    internal static bool TryAbsoluteTarget(string target, out RequestTarget result, out string? error)
    {
        result = default;
        const string scheme = "http://";
        if (!target.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
        {
            error = target.StartsWith('/') ? "origin-form request sent to a proxy: use an absolute http:// URL"
                : $"unsupported request target '{HttpHeadParser.Printable(target)}' (only http:// URLs and CONNECT)";
            return false;
        }
        var rest = target[scheme.Length..];
        var end = rest.IndexOfAny(['/', '?', '#']);
        var authority = end >= 0 ? rest[..end] : rest;
        var pathAndQuery = end >= 0 ? rest[end..] : "/";
        if (pathAndQuery.StartsWith('?')) pathAndQuery = "/" + pathAndQuery;
        var hash = pathAndQuery.IndexOf('#');
        if (hash >= 0) pathAndQuery = pathAndQuery[..hash];
        if (!Authority.TryParse(authority, defaultPort: 80, out var destination, out var port, out error))
        {
            error = $"bad URL authority: {error}";
            return false;
        }
        result = new RequestTarget(destination, port, pathAndQuery, target);
        return true;
    }

    internal static async Task ConsumeAsync(ClientConnection client, int length, CancellationToken ct)
    {
        var result = await client.Reader.ReadAsync(ct).ConfigureAwait(false);
        client.Reader.AdvanceTo(result.Buffer.GetPosition(length));
    }

    private static async Task SendQuietlyAsync(ClientConnection client, byte[] bytes)
    {
        try { await client.SendAsync(bytes, CancellationToken.None).ConfigureAwait(false); }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException) { }
    }

    private static double Elapsed(long started) => Stopwatch.GetElapsedTime(started).TotalMilliseconds;
}

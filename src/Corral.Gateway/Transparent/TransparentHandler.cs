using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Corral.Gateway.Proxy;
using Corral.Policy.Addressing;
using Corral.Policy.Compilation;
using Microsoft.Extensions.Logging;

namespace Corral.Gateway.Transparent;

/// <summary>
/// The transparent listener: connections REDIRECTed by iptables/nftables. The original destination comes from
/// SO_ORIGINAL_DST, the host name from the ClientHello SNI or the HTTP Host header (peeked, not consumed). A named
/// flow is resolved by the gateway itself, so the client's choice of address is never trusted; plain HTTP is then
/// forwarded request by request, anything else spliced.
/// </summary>
internal sealed class TransparentHandler(GatewayContext context, IPEndPoint listenerEndPoint)
{
    public async Task HandleAsync(Socket socket, CancellationToken ct)
    {
        await using var client = new ClientConnection(socket, "transparent", context);
        var started = Stopwatch.GetTimestamp();
        var original = OriginalDestination.Get(socket);
        if (original is null || IsSelf(original))
        {
            // Not redirected (a direct connection to the listener) or a loop back into the gateway: nowhere safe to go.
            client.LogRefusal("no original destination (connection was not redirected to the transparent listener)");
            return;
        }
        original = new IPEndPoint(IpBits.Canonical(original.Address), original.Port);

        var sniffed = await StreamSniffer.SniffAsync(client, ct).ConfigureAwait(false);
        if (sniffed.Kind == StreamKind.Closed) return;
        var refusal = Tunnel.Check(sniffed, sniffed.Name ?? "", original.Port);
        if (refusal is not null)
        {
            client.LogRefusal(refusal, original, sniffed.Name);
            await RefuseAsync(client, sniffed, original, null, refusal).ConfigureAwait(false);
            return;
        }

        if (sniffed.Kind == StreamKind.Http)
        {
            await using var http = new HttpForwarder(client);
            using var betweenRequests = CancellationTokenSource.CreateLinkedTokenSource(ct, context.StoppingToken);
            for (var head = sniffed.Head!; ;)
            {
                await ExplicitProxyHandler.ConsumeAsync(client, head.Length, ct).ConfigureAwait(false);
                if (!StreamSniffer.TryHostOfAuthority(head.Get("Host") ?? "", out var host) || !Destination.TryParse(host, out var destination, out _))
                {
                    await http.RefuseAsync(400, "Bad Request", "request without a valid Host header", null).ConfigureAwait(false);
                    return;
                }
                if (!head.Second.StartsWith('/'))
                {
                    await http.RefuseAsync(400, "Bad Request", "request target is not origin-form", null).ConfigureAwait(false);
                    return;
                }
                var url = $"http://{head.Get("Host")}{head.Second}";
                if (!await http.ForwardAsync(head, new RequestTarget(destination, original.Port, head.Second, url), ct).ConfigureAwait(false)) return;
                if (context.Stopping) return;
                var parser = new Http.HttpHeadParser(isRequest: true);
                var outcome = await Http.PipePeek.PeekAsync(client.Reader, parser, context.Limits.MaxHeadBytes, context.Limits.IdleTimeout, betweenRequests.Token).ConfigureAwait(false);
                if (outcome != Http.PeekOutcome.Done)
                {
                    if (outcome is Http.PeekOutcome.Invalid or Http.PeekOutcome.TooLarge)
                        await http.RefuseAsync(400, "Bad Request", $"malformed request: {parser.Error ?? outcome.ToString()}", null).ConfigureAwait(false);
                    return;
                }
                head = parser.Head!;
            }
        }

        var flowId = context.NewFlowId();
        var target = sniffed.Name is { } name ? new Destination(name, null) : new Destination(null, original.Address);
        var decision = await context.Decider.DecideAsync(client.Source.Address, target, original.Port, null, sniffed.IsTls, ct).ConfigureAwait(false);
        if (decision.Refusal is not null)
        {
            client.LogDecision(flowId, decision.Flow, null, original, null, null, decision.Refusal);
            context.Logger.LogInformation("Flow {FlowId} to {Host}: {Refusal}", flowId, sniffed.Name, decision.Refusal);
            await RefuseAsync(client, sniffed, original, null, decision.Refusal).ConfigureAwait(false);
            client.LogClose(flowId, original, sniffed.Name, 0, 0, Stopwatch.GetElapsedTime(started).TotalMilliseconds, decision.Refusal);
            return;
        }
        var dialTo = new IPEndPoint(decision.DialAddress, original.Port);
        if (decision.LetsThrough && context.Self.IsSelf(dialTo))
        {
            client.LogRefusal($"{dialTo} is the gateway itself: refusing a proxy loop", dialTo, sniffed.Name);
            await RefuseAsync(client, sniffed, original, null, "proxy loop").ConfigureAwait(false);
            return;
        }
        var intercept = Tunnel.ShouldIntercept(context, decision, sniffed);
        client.LogDecision(flowId, decision.Flow, decision.Verdict, dialTo, null, null, null, decrypted: intercept);
        if (!decision.LetsThrough)
        {
            context.Logger.LogInformation("Flow {FlowId} {Source} -> {Host} {Destination} denied: {Reason}", flowId, client.Source, sniffed.Name, dialTo, decision.Verdict.ReasonText);
            await RefuseAsync(client, sniffed, original, decision.Verdict, null).ConfigureAwait(false);
            client.LogClose(flowId, dialTo, sniffed.Name, 0, 0, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            return;
        }
        if (intercept) await Tunnel.InterceptAsync(client, flowId, decision, original.Port, started, ct).ConfigureAwait(false);
        else await Tunnel.SpliceAsync(client, flowId, decision, original.Port, started, ct).ConfigureAwait(false);
    }

    private bool IsSelf(IPEndPoint original) =>
        original.Port == listenerEndPoint.Port && (original.Address.Equals(listenerEndPoint.Address) || IPAddress.IsLoopback(original.Address) && listenerEndPoint.Address.Equals(IPAddress.Any));

    /// <summary>A transparent TLS client gets an access_denied alert then a close; anything else just a close.</summary>
    private static async Task RefuseAsync(ClientConnection client, Sniffed sniffed, IPEndPoint original, Verdict? verdict, string? refusal)
    {
        try
        {
            if (sniffed.IsTls || sniffed.Kind == StreamKind.Bad) await client.SendAsync(Responses.TlsAccessDenied, CancellationToken.None).ConfigureAwait(false);
            else if (sniffed.Kind == StreamKind.Http) await client.SendAsync(Responses.Denied($"{sniffed.Name ?? original.Address.ToString()}:{original.Port}", verdict, refusal), CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException) { }
    }
}

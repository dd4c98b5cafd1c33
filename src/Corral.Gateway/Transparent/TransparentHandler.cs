using System.Net;
using System.Net.Sockets;
using Corral.Gateway.Proxy;
using Corral.Gateway.Sniffing;
using Corral.Interception.Http;
using Corral.Policy.Addressing;
using Corral.Policy.Compilation;

namespace Corral.Gateway.Transparent;

/// <summary>
/// The transparent listener: connections REDIRECTed by iptables/nftables. The original destination comes from
/// SO_ORIGINAL_DST, the host name from the ClientHello SNI or the HTTP request (peeked, not consumed). The flow is
/// decided and carried as a CONNECT tunnel's is: HTTP through the request pipeline, TLS decrypted or spliced.
/// </summary>
internal sealed class TransparentHandler(GatewayContext context, IPEndPoint listenerEndPoint)
{
    public async Task HandleAsync(Socket socket, CancellationToken ct)
    {
        await using var client = new ClientConnection(socket, "transparent", context);
        var original = OriginalDestination.Get(socket);
        if (original is null || context.Self.IsSelf(original))
        {
            // Not redirected (a direct connection to the listener) or a loop back into the gateway: nowhere safe to go.
            await using var refused = new FlowSession(client, null, null);
            refused.Refuse(original is null
                ? Refusal.ByCheck(GatewayCheck.NotRedirected, listenerEndPoint.ToString(), "no original destination (connection was not redirected to the transparent listener)")
                : Refusal.ByCheck(GatewayCheck.ProxyLoop, original.ToString(), $"{original} is the gateway itself: refusing a proxy loop"));
            return;
        }
        original = new IPEndPoint(IpBits.Canonical(original.Address), original.Port);

        var sniffed = await StreamSniffer.SniffAsync(client, ct).ConfigureAwait(false);
        if (sniffed.Kind == StreamKind.Closed) return;
        await using var session = new FlowSession(client, sniffed.Request?.Head.Method, sniffed.Request is { } request ? $"http://{sniffed.Name}{request.Head.Target}" : null);
        // A named flow (SNI, or the HTTP request's host) is decided and dialled by name, resolved by the gateway
        // itself, so the client's choice of address is never trusted for a rule that reads the name; anything else by
        // the original address.
        var target = sniffed.Name is { } name && Destination.TryParse(name, out var named, out _) ? named : new Destination(null, original.Address);
        // Rules that permit by address alone are decided on the original destination, so a name no other rule could
        // let through is never looked up (an attacker-chosen SNI must not leave through the gateway's resolver).
        await session.DecideAsync(target, original.Port, sniffed.IsTls || sniffed.LooksLikeTls, ct, original.Address).ConfigureAwait(false);
        await Tunnel.CarryAsync(client, session, sniffed, named: target.Host is not null, null, ct).ConfigureAwait(false);
    }
}

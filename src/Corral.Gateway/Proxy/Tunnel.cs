using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Corral.Gateway.Decision;
using Corral.Gateway.Splicing;
using Microsoft.Extensions.Logging;

namespace Corral.Gateway.Proxy;

/// <summary>
/// Carries out a permit at connection level: dial the address the verdict chose and splice. Also the checks that
/// apply once the stream's first bytes are known, shared by CONNECT and the transparent listener.
/// </summary>
internal static class Tunnel
{
    /// <summary>
    /// A gateway refusal for what the stream's start says, or null: names must agree (domain fronting), a stream on
    /// port 443 must be TLS (nothing else may hide on the HTTPS port), and bad input is refused.
    /// </summary>
    /// <param name="expected">The requested host name, or the canonical text of the requested IP address.</param>
    public static string? Check(in Sniffed sniffed, string expected, int port)
    {
        if (sniffed.Kind == StreamKind.Bad) return sniffed.Problem;
        if (sniffed.Name is { } seen && seen != expected)
            return $"domain fronting: the {(sniffed.IsTls ? "TLS SNI" : "HTTP Host")} '{seen}' differs from the requested '{expected}'";
        if (port == 443 && !sniffed.IsTls && sniffed.Kind != StreamKind.Closed) return "not TLS on port 443";
        return null;
    }

    /// <summary>Dials and splices; writes the close record. Never throws for network trouble.</summary>
    public static async Task SpliceAsync(ClientConnection client, string flowId, FlowDecision decision, int port, long startTimestamp, CancellationToken ct)
    {
        var ctx = client.Context;
        var destination = new IPEndPoint(decision.DialAddress, port);
        Socket upstream;
        try
        {
            upstream = await Dialer.ConnectAsync(destination, ctx.Limits.ConnectTimeout, ctx.DialGuard, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or TimeoutException or OperationCanceledException)
        {
            ctx.Logger.LogWarning("Flow {FlowId}: cannot reach {Destination}: {Error}", flowId, destination, e.Message);
            client.LogClose(flowId, destination, decision.Flow.Host, 0, 0, Stopwatch.GetElapsedTime(startTimestamp).TotalMilliseconds, $"upstream unreachable: {e.Message}");
            return;
        }
        using (upstream)
        {
            var result = await Splicer.RunAsync(client.Socket, client.Reader, upstream, ctx.Limits.IdleTimeout, ct).ConfigureAwait(false);
            client.LogClose(flowId, destination, decision.Flow.Host, result.BytesUp, result.BytesDown, Stopwatch.GetElapsedTime(startTimestamp).TotalMilliseconds);
        }
    }
}

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

    /// <summary>
    /// Decrypt only an enforced permit whose rule allows it, when a CA is configured and the stream is TLS with an SNI;
    /// everything else (decrypt: not-allowed, watched rules, no CA) is spliced.
    /// </summary>
    public static bool ShouldIntercept(GatewayContext context, in FlowDecision decision, in Sniffed sniffed) =>
        context.Interceptor is not null && decision.Verdict.Decrypt && sniffed.IsTls && decision.Flow.Host is not null;

    /// <summary>Dials and splices; writes the close record. Never throws for network trouble.</summary>
    public static async Task SpliceAsync(ClientConnection client, string flowId, FlowDecision decision, int port, long startTimestamp, CancellationToken ct)
    {
        var ctx = client.Context;
        var destination = new IPEndPoint(decision.DialAddress, port);
        Socket upstream;
        try
        {
            // Stays on the socket event thread (with inline completions): sending the peeked bytes and starting the
            // splice are a few non-blocking calls.
            upstream = await Dialer.ConnectAsync(destination, ctx.Limits.ConnectTimeout, ctx.DialGuard, ct, resumeOnPool: false).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or TimeoutException or OperationCanceledException)
        {
            ctx.Logger.LogWarning("Flow {FlowId}: cannot reach {Destination}: {Error}", flowId, destination, e.Message);
            client.LogClose(flowId, destination, decision.Flow.Host, 0, 0, Stopwatch.GetElapsedTime(startTimestamp).TotalMilliseconds, $"upstream unreachable: {e.Message}");
            return;
        }
        using (upstream)
        {
            var result = await Splicer.RunAsync(ctx.Splice, client.Socket, client.Reader, upstream, null, ctx.Limits.IdleTimeout, ct).ConfigureAwait(false);
            client.LogClose(flowId, destination, decision.Flow.Host, result.BytesUp, result.BytesDown, Stopwatch.GetElapsedTime(startTimestamp).TotalMilliseconds);
        }
    }

    /// <summary>
    /// Carries out a permit whose rule allows decryption, when the gateway has a CA: terminate the client's TLS with a
    /// minted leaf, verify the upstream, and decide and inspect each request. Writes a request record per request and
    /// the close record. Never throws for network trouble.
    /// </summary>
    public static async Task InterceptAsync(ClientConnection client, string flowId, FlowDecision decision, int port, long startTimestamp, CancellationToken ct)
    {
        // Always onto the pool first: a ClientHello already buffered at accept would otherwise run the handshake and a
        // leaf certificate's minting on the accept loop or a socket event thread, stalling every socket it serves.
        await Task.Yield();
        var ctx = client.Context;
        var destination = new IPEndPoint(decision.DialAddress, port);
        var host = decision.Flow.Host!;
        var requests = new RequestPolicy(client, flowId, decision, destination);
        // The peeked ClientHello is still in the reader: the TLS handshake reads from it first, then from the socket.
        await using var duplex = new DuplexStream(client.Reader.AsStream(leaveOpen: true), client.Stream);
        try
        {
            await ctx.Interceptor!.RunAsync(duplex, host, destination, async token =>
            {
                var socket = await Dialer.ConnectAsync(destination, ctx.Limits.ConnectTimeout, ctx.DialGuard, token, resumeOnPool: true).ConfigureAwait(false);
                return new ResumingNetworkStream(socket, ownsSocket: true); // the TLS work never holds a socket event thread
            }, requests, ctx.Decider.CurrentInspector(), ct).ConfigureAwait(false);
            client.LogClose(flowId, destination, host, requests.BytesUp, requests.BytesDown, Stopwatch.GetElapsedTime(startTimestamp).TotalMilliseconds);
        }
        catch (Exception e) when (e is IOException or SocketException or TimeoutException or OperationCanceledException or System.Security.Authentication.AuthenticationException)
        {
            ctx.Logger.LogInformation("Flow {FlowId}: intercepted connection to {Host} ended: {Error}", flowId, host, e.Message);
            client.LogClose(flowId, destination, host, requests.BytesUp, requests.BytesDown, Stopwatch.GetElapsedTime(startTimestamp).TotalMilliseconds, $"interception ended: {e.Message}");
        }
    }

    /// <summary>Per-request decisions through the one decision function, and request records in the flow log.</summary>
    private sealed class RequestPolicy(ClientConnection client, string flowId, FlowDecision decision, IPEndPoint destination) : Interception.IRequestPolicy
    {
        public long BytesUp, BytesDown;

        public Policy.Compilation.Verdict Decide(string path) => client.Context.Decider.DecideRequest(decision, path);

        public void OnRequest(Interception.InspectedRequest request)
        {
            BytesUp += request.BytesUp;
            BytesDown += request.BytesDown;
            client.LogRequest(flowId, destination, decision.Flow, request);
            if (!request.Forwarded)
                client.Context.Logger.LogInformation("Flow {FlowId} {Method} {Url} refused: {Reason}", flowId, request.Method, request.Url, request.DeniedBy);
        }
    }

    /// <summary>Reads from one stream and writes to another: the client's pipe (with peeked bytes) and its socket.</summary>
    private sealed class DuplexStream(Stream read, Stream write) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() => write.Flush();
        public override Task FlushAsync(CancellationToken ct) => write.FlushAsync(ct);
        public override int Read(byte[] buffer, int offset, int count) => read.Read(buffer, offset, count);
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) => read.ReadAsync(buffer, ct);
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) => read.ReadAsync(buffer, offset, count, ct);
        public override void Write(byte[] buffer, int offset, int count) => write.Write(buffer, offset, count);
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default) => write.WriteAsync(buffer, ct);
        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct) => write.WriteAsync(buffer, offset, count, ct);
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override ValueTask DisposeAsync() => read.DisposeAsync(); // the client connection owns the socket
        protected override void Dispose(bool disposing)
        {
            if (disposing) read.Dispose();
            base.Dispose(disposing);
        }
    }
}

using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Corral.Gateway.Splicing;
using Corral.Gateway.Sniffing;
using Corral.Gateway.Tls;
using Corral.Interception;
using Corral.Interception.Http;

namespace Corral.Gateway.Proxy;

/// <summary>
/// Carries out a decided flow once its first bytes are known, for CONNECT tunnels and the transparent listener alike:
/// the flow session admits it (holding the stream against the decision and writing the decision record) and says how
/// it is carried; this refuses it, relays its HTTP requests through the request pipeline, decrypts it, or splices it.
/// </summary>
internal static class Tunnel
{
    /// <summary>
    /// Carries the flow to its end; its session writes its records. Never throws for network trouble.
    /// </summary>
    /// <param name="named">Whether the flow was decided for a host name (a CONNECT authority or a transparent SNI/Host), not an address.</param>
    /// <param name="dialed">An upstream connection already open to the verdict's address (a CONNECT dials before its 200), or null.</param>
    public static async Task CarryAsync(ClientConnection client, FlowSession session, Sniffed sniffed, bool named, Socket? dialed, CancellationToken ct)
    {
        using var upstream = new PreDialed(dialed);
        switch (session.Admit(sniffed, named, canDecrypt: client.Context.Interceptor is not null))
        {
            case FlowCarriage.Refuse:
                await SendRefusalAsync(client, session.Refusal!, sniffed).ConfigureAwait(false);
                session.Close();
                return;
            case FlowCarriage.End:
                session.Close(note: sniffed.Problem);
                return;
            case FlowCarriage.RelayHttp:
                await ResumingNetworkStream.ToPool(); // the sniff ran on the event thread; parsing and scanning requests does not
                await RelayAsync(client, session, new RelayTarget("http", session.Name, session.Port, RelayMode.Tunnel), upstream, sniffed.Request, ct).ConfigureAwait(false);
                session.Close();
                return;
            case FlowCarriage.Decrypt:
                await InterceptAsync(client, session, upstream, ct).ConfigureAwait(false);
                return;
            default:
                await SpliceAsync(client, session, upstream, sniffed.IsTls, ct).ConfigureAwait(false);
                return;
        }
    }

    /// <summary>The refusal in the form the client is speaking: a TLS alert after a ClientHello, an HTTP answer to HTTP, else a close.</summary>
    public static async Task SendRefusalAsync(ClientConnection client, Refusal refusal, Sniffed sniffed)
    {
        try
        {
            if (sniffed.IsTls || sniffed.LooksLikeTls) await client.SendAsync(Responses.TlsAccessDenied, CancellationToken.None).ConfigureAwait(false);
            else if (sniffed.Kind is StreamKind.Http or StreamKind.Bad) await client.SendAsync(refusal.ToHttpResponse(), CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException) { }
    }

    /// <summary>
    /// Runs cleartext HTTP requests through the one request pipeline, the first one's head as the gateway already parsed
    /// it. Returns how it ended (in proxy mode, a request naming another destination is left unread for a new flow, its
    /// head handed back parsed).
    /// </summary>
    public static async Task<RelayResult> RelayAsync(ClientConnection client, FlowSession session, RelayTarget target, PreDialed upstream, ParsedRequest? first,
        CancellationToken ct)
    {
        var ctx = client.Context;
        try
        {
            return await ctx.PlainRelay.RunAsync(client.Stream, client.Reader, target, session.DialTo!, async token =>
                new ResumingNetworkStream(await upstream.TakeOrDialAsync(session.DialTo!, ctx, token).ConfigureAwait(false), ownsSocket: true),
                session.Requests, session.Inspector, first, ct, ctx.StoppingToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or TimeoutException or OperationCanceledException)
        {
            ctx.Logger.TunnelEndedEarly(session.Id, e.Message);
            return new(RelayEnd.Closed);
        }
    }

    /// <summary>
    /// Splices client and upstream; writes the close record. A TLS stream's handshake is watched first
    /// (<see cref="HandshakeGuard"/>): the flow was decided on the first ClientHello, and every later one must agree.
    /// </summary>
    private static async Task SpliceAsync(ClientConnection client, FlowSession session, PreDialed pre, bool tls, CancellationToken ct)
    {
        var ctx = client.Context;
        Socket upstream;
        try
        {
            // Stays on the socket event thread (with inline completions): sending the peeked bytes and starting the
            // splice are a few non-blocking calls.
            upstream = await pre.TakeOrDialAsync(session.DialTo!, ctx, ct, resumeOnPool: false).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or TimeoutException or OperationCanceledException)
        {
            ctx.Logger.UpstreamUnreachable(session.Id, session.DialTo, e.Message);
            session.Close(note: $"upstream unreachable: {e.Message}");
            return;
        }
        using (upstream)
        {
            if (!tls)
            {
                var result = await Splicer.RunAsync(ctx.Splice, client.Socket, client.Reader, upstream, null, ctx.Limits.IdleTimeout, ct).ConfigureAwait(false);
                session.Close(result.BytesUp, result.BytesDown);
                return;
            }
            await using var upstreamStream = new NetworkStream(upstream, ownsSocket: false);
            var upstreamReader = PipeReader.Create(upstreamStream, new StreamPipeReaderOptions(bufferSize: 16 * 1024, minimumReadSize: 4096, leaveOpen: true));
            try
            {
                var watch = await HandshakeGuard.RunAsync(client.Reader, client.Socket, upstreamReader, upstream, ctx.Limits.MaxClientHelloBytes, ctx.Limits.IdleTimeout, ct).ConfigureAwait(false);
                if (watch.Problem is { } problem)
                {
                    session.RefuseLate(Refusal.ByCheck(GatewayCheck.TlsHandshake, session.Authority, problem));
                    await SendRefusalAsync(client, session.Refusal!, new Sniffed(StreamKind.Tls, null, null, null)).ConfigureAwait(false);
                    session.Close(watch.BytesUp, watch.BytesDown);
                    return;
                }
                if (watch.Ended is { } ended)
                {
                    session.Close(watch.BytesUp, watch.BytesDown, note: ended);
                    return;
                }
                var result = await Splicer.RunAsync(ctx.Splice, client.Socket, client.Reader, upstream, upstreamReader, ctx.Limits.IdleTimeout, ct).ConfigureAwait(false);
                session.Close(watch.BytesUp + result.BytesUp, watch.BytesDown + result.BytesDown);
            }
            finally
            {
                await upstreamReader.CompleteAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Terminates the client's TLS with a minted leaf, verifies the upstream, and hands each request to the request
    /// pipeline. Writes the close record.
    /// </summary>
    private static async Task InterceptAsync(ClientConnection client, FlowSession session, PreDialed pre, CancellationToken ct)
    {
        // Always onto the pool first: a ClientHello already buffered at accept would otherwise run the handshake and a
        // leaf certificate's minting on the accept loop or a socket event thread, stalling every socket it serves.
        await ResumingNetworkStream.ToPool();
        var ctx = client.Context;
        var host = session.Decision.Flow.Host!;
        // The peeked ClientHello is still in the reader: the TLS handshake reads from it first, then from the socket.
        await using var duplex = new DuplexStream(client.Reader.AsStream(leaveOpen: true), client.Stream);
        try
        {
            await ctx.Interceptor!.RunAsync(duplex, host, session.DialTo!, session.Port, async token =>
                new ResumingNetworkStream(await pre.TakeOrDialAsync(session.DialTo!, ctx, token).ConfigureAwait(false), ownsSocket: true),
                session.Requests, session.Inspector, ct, ctx.StoppingToken).ConfigureAwait(false);
            session.Close();
        }
        catch (Exception e) when (e is IOException or SocketException or TimeoutException or OperationCanceledException or System.Security.Authentication.AuthenticationException)
        {
            ctx.Logger.InterceptionEnded(session.Id, host, e.Message);
            session.Close(note: $"interception ended: {e.Message}");
        }
    }

    /// <summary>An upstream connection opened ahead (or not): the first taker gets it, later ones dial; disposing closes one never taken.</summary>
    internal sealed class PreDialed(Socket? socket) : IDisposable
    {
        private Socket? _socket = socket;

        public async Task<Socket> TakeOrDialAsync(IPEndPoint destination, GatewayContext ctx, CancellationToken ct, bool resumeOnPool = true) =>
            Interlocked.Exchange(ref _socket, null)
            ?? await Dialer.ConnectAsync(destination, ctx.Limits.ConnectTimeout, ctx.DialGuard, ct, resumeOnPool).ConfigureAwait(false);

        public void Dispose() => Interlocked.Exchange(ref _socket, null)?.Dispose();
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

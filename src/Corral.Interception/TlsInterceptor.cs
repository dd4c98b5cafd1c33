using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Corral.Certificates;
using Corral.Interception.Http;
using Corral.Interception.Http2;
using Corral.Policy.Inspection;

namespace Corral.Interception;

/// <summary>Settings for intercepted flows.</summary>
public sealed record InterceptionOptions
{
    public HttpLimits Limits { get; init; } = new();

    /// <summary>Request bodies up to this size are read whole and scanned before anything is sent upstream.</summary>
    public int BufferedBodyLimit { get; init; } = 1 << 20;

    /// <summary>How long a kept-alive client connection may wait for its next request.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>An encoded request body (gzip, deflate, br) is decoded up to this size for inspection; larger is refused.</summary>
    public int DecodedBodyLimit { get; init; } = 8 << 20;

    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Roots that upstream certificates must chain to; null means the system's trust store.</summary>
    public X509Certificate2Collection? UpstreamTrust { get; init; }

    /// <summary>How long an upstream connection may sit idle in the pool; zero turns pooling off.</summary>
    public TimeSpan UpstreamIdleTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Idle upstream connections kept per (server name, dialled address).</summary>
    public int MaxIdleUpstreamsPerKey { get; init; } = 32;

    /// <summary>Idle upstream connections kept in all (each holds a socket).</summary>
    public int MaxIdleUpstreams { get; init; } = 256;

    /// <summary>Whether decrypted flows offer h2 in ALPN (else http/1.1 only).</summary>
    public bool OfferHttp2 { get; init; } = true;

    /// <summary>Streams one h2 client connection may have open at once (each is a request in flight, with its own upstream connection).</summary>
    public int Http2MaxStreams { get; init; } = 100;
}

/// <summary>
/// Terminates the client's TLS with a leaf minted for the SNI name, opens verified TLS to the upstream, and hands the
/// decrypted requests to the one <see cref="RequestPipeline"/> (names agree with the SNI, each request decided on its
/// own path, head and body scanned before they go upstream). The client is offered ALPN h2 and http/1.1: an h2
/// connection goes to the gateway's one HTTP/2 server (<see cref="Http2Front"/>), whose every stream is one request
/// through the same pipeline stages; upstream, each request travels HTTP/1.1.
/// Upstream connections left clean when a client connection ends are pooled (see <see cref="UpstreamKey"/>) and lent
/// to later flows to the same name and address; dispose the interceptor to close them.
/// </summary>
public sealed class TlsInterceptor(LeafCertificateCache leaves, InterceptionOptions options) : IDisposable
{
    private static readonly List<SslApplicationProtocol> Http11Only = [SslApplicationProtocol.Http11];
    private static readonly List<SslApplicationProtocol> Http2OrHttp11 = [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11];
    private readonly UpstreamPool _pool = new(options.MaxIdleUpstreamsPerKey, options.MaxIdleUpstreams, options.UpstreamIdleTimeout);
    private readonly RequestPipeline _pipeline = new(options);
    private readonly Http2Front? _http2 = options.OfferHttp2 ? new Http2Front(options) : null;

    /// <summary>Idle upstream connections held for reuse now.</summary>
    public int IdleUpstreams => _pool.Count;

    /// <summary>Whether an idle upstream connection to this name and address is pooled (no need to dial ahead).</summary>
    public bool HasIdleUpstream(string serverName, IPEndPoint destination) => _pool.HasIdle(new UpstreamKey(serverName, destination));

    /// <summary>Closes the idle upstream connections; connections in use close when their client connection ends.</summary>
    public void Dispose()
    {
        _http2?.Dispose();
        _pool.Dispose();
    }

    /// <summary>Runs one intercepted connection to completion. <paramref name="connectUpstream"/> opens the raw TCP stream to the permitted address.</summary>
    /// <param name="destination">The address <paramref name="connectUpstream"/> dials: with the server name, what a pooled connection is keyed by.</param>
    /// <param name="port">The port the flow was permitted to (names requests must agree with).</param>
    /// <param name="inspector">The payload patterns of the policy in force when the flow started.</param>
    public async Task RunAsync(Stream client, string serverName, IPEndPoint destination, int port, Func<CancellationToken, ValueTask<Stream>> connectUpstream,
        IRequestGate gate, PayloadInspector inspector, CancellationToken ct, CancellationToken stopWaiting = default)
    {
        await using var clientTls = new SslStream(client, leaveInnerStreamOpen: false);
        using (var traced = (gate as ITlsHandshakeObserver)?.HandshakeStarting(serverName, upstream: false))
        using (var handshake = CancellationTokenSource.CreateLinkedTokenSource(ct))
        {
            handshake.CancelAfter(options.HandshakeTimeout);
            await clientTls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
            {
                ServerCertificateContext = leaves.Get(serverName),
                ApplicationProtocols = _http2 is null ? Http11Only : Http2OrHttp11,
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            }, handshake.Token);
            traced?.Established(clientTls);
        }
        var key = new UpstreamKey(serverName, destination);
        Task<UpstreamConnection> Connect(CancellationToken token) => ConnectUpstreamAsync(serverName, connectUpstream, gate as ITlsHandshakeObserver, token);
        var target = new RelayTarget("https", serverName, port, RelayMode.Tunnel);
        if (_http2 is not null && clientTls.NegotiatedApplicationProtocol == SslApplicationProtocol.Http2)
        {
            await _http2.RunAsync(clientTls, new Http2Flow(target, new SerializedGate(gate), inspector, () => new Upstreams(_pool, key, Connect), ct), ct, stopWaiting);
            return;
        }
        var clientReader = PipeReader.Create(clientTls, new StreamPipeReaderOptions(leaveOpen: true));
        var upstreams = new Upstreams(_pool, key, Connect);
        try
        {
            await _pipeline.RunAsync(clientTls, clientReader, target, upstreams, gate, inspector, first: null, ct, stopWaiting);
        }
        finally
        {
            await clientReader.CompleteAsync();
        }
    }

    /// <summary>Opens and verifies a new TLS connection to the real destination.</summary>
    private async Task<UpstreamConnection> ConnectUpstreamAsync(string serverName, Func<CancellationToken, ValueTask<Stream>> connect, ITlsHandshakeObserver? observer, CancellationToken ct)
    {
        var raw = await connect(ct);
        var tls = new SslStream(raw, leaveInnerStreamOpen: false);
        var client = new SslClientAuthenticationOptions
        {
            TargetHost = serverName,
            ApplicationProtocols = Http11Only,
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        };
        if (options.UpstreamTrust is { } trust)
        {
            var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
            policy.CustomTrustStore.AddRange(trust);
            client.CertificateChainPolicy = policy;
        }
        SslPolicyErrors errors = SslPolicyErrors.None;
        X509ChainStatusFlags chainStatus = X509ChainStatusFlags.NoError;
        client.RemoteCertificateValidationCallback = (_, _, chain, sslErrors) =>
        {
            errors = sslErrors;
            if (chain is not null) foreach (var s in chain.ChainStatus) chainStatus |= s.Status;
            return sslErrors == SslPolicyErrors.None;
        };
        using var traced = observer?.HandshakeStarting(serverName, upstream: true);
        try
        {
            using var handshake = CancellationTokenSource.CreateLinkedTokenSource(ct);
            handshake.CancelAfter(options.HandshakeTimeout);
            await tls.AuthenticateAsClientAsync(client, handshake.Token);
            traced?.Established(tls);
        }
        catch (AuthenticationException ex)
        {
            await tls.DisposeAsync();
            var detail = errors == SslPolicyErrors.None ? ex.Message : $"{errors}{(chainStatus == X509ChainStatusFlags.NoError ? "" : $" ({chainStatus})")}";
            throw new UpstreamCertificateException($"upstream {serverName} failed TLS verification: {detail}");
        }
        catch
        {
            await tls.DisposeAsync();
            throw;
        }
        return new UpstreamConnection(tls, (raw as System.Net.Sockets.NetworkStream)?.Socket);
    }
}

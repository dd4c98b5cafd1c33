using System.Collections.Concurrent;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Corral.Interception.Http2;

/// <summary>
/// The gateway's one HTTP/2 server for decrypted flows: Kestrel, HTTP/2 only, on <see cref="DecryptedTransport"/>.
/// Kestrel's HTTP/2 implementation is the one place h2 bytes from a client are parsed (frames, HPACK, flow control,
/// stream states) and refused when hostile: CONTINUATION floods, HPACK bombs, stream floods and rapid reset. Its
/// limits are set for a proxy here. Started on the first h2 connection; stopped with the interceptor.
/// </summary>
internal sealed class Http2Front : IDisposable
{
    private readonly DecryptedTransport _transport = new();
    private readonly ConcurrentDictionary<string, DecryptedConnection> _connections = new();
    private readonly KestrelServer _server;
    private readonly ServiceProvider _services;
    private readonly Lazy<Task> _started;

    /// <summary>How long an aborted connection's streams get to end before its flow ends without them.</summary>
    private static readonly TimeSpan AbortGrace = TimeSpan.FromSeconds(2);

    public Http2Front(InterceptionOptions options, ILoggerFactory? logging = null)
    {
        _services = new ServiceCollection().AddLogging().BuildServiceProvider();
        var kestrel = new KestrelServerOptions
        {
            ApplicationServices = _services,
            AddServerHeader = false,
            // TLS ended at the interceptor, so Kestrel sees cleartext; :scheme is checked against the flow per stream.
            AllowAlternateSchemes = true,
        };
        var limits = kestrel.Limits;
        limits.MaxRequestBodySize = null; // bounded by the stages (the rule's maxBufferedBody, the decoded-body bound), as on HTTP/1.1
        limits.MaxRequestHeaderCount = options.Limits.MaxHeaderCount;
        limits.MaxRequestHeadersTotalSize = options.Limits.MaxHeadBytes; // decoded: an HPACK bomb meets this, not the wire size
        limits.KeepAliveTimeout = options.IdleTimeout;
        limits.RequestHeadersTimeout = TimeSpan.FromSeconds(30);
        limits.Http2.MaxStreamsPerConnection = options.Http2MaxStreams;
        limits.Http2.HeaderTableSize = 4096;
        limits.Http2.MaxRequestHeaderFieldSize = Math.Min(options.Limits.MaxHeadBytes, 16 * 1024);
        limits.Http2.MaxFrameSize = 16 * 1024;
        limits.Http2.KeepAlivePingDelay = TimeSpan.FromSeconds(30);
        limits.Http2.KeepAlivePingTimeout = TimeSpan.FromSeconds(20);
        kestrel.Listen(DecryptedTransport.Endpoint, listen => listen.Protocols = HttpProtocols.Http2);
        _server = new KestrelServer(Options.Create(kestrel), _transport, logging ?? NullLoggerFactory.Instance);
        var streams = new Http2Streams(options, id => _connections.TryGetValue(id, out var c) ? c.Flow : null);
        _started = new Lazy<Task>(() => _server.StartAsync(streams, CancellationToken.None));
    }

    /// <summary>
    /// Serves one decrypted connection that chose h2 until it ends. <paramref name="stopWaiting"/> asks it to close
    /// gracefully (GOAWAY: streams in flight finish); <paramref name="ct"/> aborts it.
    /// </summary>
    public async Task RunAsync(Stream decrypted, Http2Flow flow, CancellationToken ct, CancellationToken stopWaiting)
    {
        await _started.Value;
        var connection = new DecryptedConnection(decrypted, flow);
        _connections[connection.ConnectionId] = connection;
        try
        {
            if (!_transport.Offer(connection)) throw new IOException("the gateway's HTTP/2 server has stopped");
            var aborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            void Abort()
            {
                connection.Abort(new ConnectionAbortedException("the gateway is stopping"));
                aborted.TrySetResult();
            }
            // Graceful: GOAWAY, streams in flight finish. A connection Kestrel has not yet taken up has no lifetime
            // feature to ask; it is aborted instead, so a stop never waits on a close nobody was asked for.
            using var graceful = stopWaiting.Register(() =>
            {
                if (connection.Features.Get<IConnectionLifetimeNotificationFeature>() is { } lifetime) lifetime.RequestClose();
                else Abort();
            });
            using var abort = ct.Register(Abort);
            // Once aborted, Kestrel ends the connection when its streams see it; the flow (and the gateway's stop) waits
            // a bounded time for that, never for a stream stuck elsewhere.
            if (await Task.WhenAny(connection.Ended, aborted.Task) != connection.Ended)
                await Task.WhenAny(connection.Ended, Task.Delay(AbortGrace, CancellationToken.None));
        }
        finally
        {
            _connections.TryRemove(connection.ConnectionId, out _);
        }
    }

    public void Dispose()
    {
        if (_started.IsValueCreated) _server.Dispose();
        _services.Dispose();
    }
}

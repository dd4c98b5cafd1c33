using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using Corral.Gateway.Decision;
using Corral.Gateway.FlowLog;
using Corral.Gateway.Proxy;
using Corral.Gateway.Resolution;
using Corral.Gateway.Transparent;
using Corral.Policy.Compilation;
using Microsoft.Extensions.Logging;

namespace Corral.Gateway.Hosting;

/// <summary>
/// Runs the gateway's listeners: accepts connections within the concurrency limit, hands each to its handler, and on
/// stop drains open connections (up to the drain timeout) before cutting what is left.
/// </summary>
public sealed class GatewayServer : IAsyncDisposable
{
    private readonly GatewayOptions _options;
    private readonly ILogger _logger;
    private readonly Meter _meter = new("Corral.Gateway");
    private readonly IFlowLog _flowLog;
    private readonly FlowLogWriter? _ownedFlowLog;
    private readonly GatewayContext _context;
    private readonly CancellationTokenSource _stopAccepting = new();
    private readonly CancellationTokenSource _abort = new();
    private readonly ConcurrentDictionary<long, Task> _connections = new();
    private readonly List<Socket> _listeners = [];
    private readonly List<Task> _acceptLoops = [];
    private long _nextConnection;
    private int _active;
    private int _stopped;

    public GatewayServer(CompiledPolicy policy, GatewayOptions options, ILoggerFactory loggerFactory, IResolver? resolver = null, IFlowLog? flowLog = null)
    {
        _options = options;
        _logger = loggerFactory.CreateLogger("Corral.Gateway");
        Policy = new PolicySource(policy);
        resolver ??= new Resolver(options.HostsFile is null ? HostsFile.Empty : HostsFile.Load(options.HostsFile));
        if (flowLog is null && options.FlowLogPath is not null)
            flowLog = _ownedFlowLog = new FlowLogWriter(options.FlowLogPath, options.FlowLogMaxBytes, options.FlowLogMaxFiles, options.FlowLogQueueCapacity, _meter, loggerFactory.CreateLogger("Corral.Gateway.FlowLog"));
        RecentFlows = new RecentFlows(options.RecentFlowsCapacity);
        _flowLog = new TeeFlowLog(flowLog ?? new NullFlowLog(), RecentFlows);
        // Observed at scrape time only: nothing on the flow path.
        _meter.CreateObservableUpDownCounter("corral.gateway.connections.active", () => ActiveConnections, description: "Client connections being served");
        _meter.CreateObservableGauge("corral.gateway.policy.info", () => new Measurement<int>(1,
            new KeyValuePair<string, object?>("hash", Policy!.Current.Hash), new KeyValuePair<string, object?>("name", Policy.Current.Document.Name)),
            description: "The policy in force (value 1; its hash and name are labels)");
        var decisionSeconds = _meter.CreateHistogram("corral.gateway.decision.duration", unit: "s", description: "Time CompiledPolicy.Decide takes per flow",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [1e-7, 2.5e-7, 5e-7, 1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 1e-3, 1e-2] });
        var interceptor = options.Interception is { } interception
            ? new Interception.TlsInterceptor(new Certificates.LeafCertificateCache(new Certificates.LeafMinter(interception.Authority)),
                new Interception.InterceptionOptions
                {
                    UpstreamTrust = interception.UpstreamTrust,
                    Limits = new Interception.Http.HttpLimits { MaxHeadBytes = options.Limits.MaxHeadBytes },
                    HandshakeTimeout = options.Limits.ConnectTimeout,
                    IdleTimeout = options.Limits.IdleTimeout,
                })
            : null;
        var resolvedNames = options.Dns is { } dns ? new NameService.ResolvedNames(dns.NameEntries) : null;
        _context = new GatewayContext(options.Limits, new FlowDecider(Policy, resolver, decisionSeconds), _flowLog, _logger, _meter, options.DialGuard, _stopAccepting.Token, interceptor, resolvedNames);
        if (options.Dns is { } dnsOptions)
            _dns = new NameService.DnsServer(dnsOptions, Policy, _flowLog, resolvedNames!, _meter, loggerFactory.CreateLogger("Corral.Gateway.Dns"), _context.NewFlowId);
    }

    private readonly NameService.DnsServer? _dns;

    /// <summary>The resolver's bound endpoint (UDP and TCP); null when --dns is not given.</summary>
    public IPEndPoint? DnsEndPoint => _dns?.EndPoint;

    /// <summary>The policy in force; swap it to reload.</summary>
    public PolicySource Policy { get; }

    /// <summary>The most recent decisions, for the admin API.</summary>
    public RecentFlows RecentFlows { get; }

    /// <summary>The gateway's meter ("Corral.Gateway"): the policy reloader adds its instruments here.</summary>
    public Meter Meter => _meter;

    /// <summary>The bound explicit endpoint (with the real port when 0 was asked for).</summary>
    public IPEndPoint? ListenEndPoint { get; private set; }
    public IPEndPoint? TransparentEndPoint { get; private set; }

    /// <summary>True while at least one listener is bound and the gateway is not stopping (readiness).</summary>
    public bool IsAccepting => Volatile.Read(ref _stopped) == 0 && _listeners.Count > 0;

    /// <summary>Connections being served now.</summary>
    public int ActiveConnections => Volatile.Read(ref _active);

    public void Start()
    {
        if (_options.Listen is null && _options.Transparent is null) throw new InvalidOperationException("no listener configured");
        if (_options.Listen is { } listen)
        {
            var socket = Bind(listen, clientSpeaksFirst: true);
            ListenEndPoint = (IPEndPoint)socket.LocalEndPoint!;
            _context.Self.Add(ListenEndPoint);
            var handler = new ExplicitProxyHandler(_context);
            _acceptLoops.Add(Task.Run(() => AcceptLoopAsync(socket, "explicit", handler.HandleAsync)));
            _logger.LogInformation("Explicit proxy listening on {EndPoint}", ListenEndPoint);
        }
        if (_options.Transparent is { } transparent)
        {
            var socket = Bind(transparent, clientSpeaksFirst: false);
            TransparentEndPoint = (IPEndPoint)socket.LocalEndPoint!;
            _context.Self.Add(TransparentEndPoint);
            var handler = new TransparentHandler(_context, TransparentEndPoint);
            _acceptLoops.Add(Task.Run(() => AcceptLoopAsync(socket, "transparent", handler.HandleAsync)));
            _logger.LogInformation("Transparent listener on {EndPoint}", TransparentEndPoint);
        }
        _dns?.Start();
    }

    /// <param name="clientSpeaksFirst">
    /// True for the explicit proxy, whose clients always send a request head first: on Linux the listener then uses
    /// TCP_DEFER_ACCEPT, so a connection is accepted once its first bytes are there. The first read then completes at
    /// once instead of costing a failed recv, an epoll wait and a thread-pool hop per new connection. A client that
    /// connects and sends nothing is accepted anyway after about a second (one SYN-ACK retransmission) and then meets
    /// the head timeout as before. Never on the transparent listener: a server-first protocol would wait there.
    /// </param>
    private Socket Bind(IPEndPoint endpoint, bool clientSpeaksFirst)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            if (clientSpeaksFirst && OperatingSystem.IsLinux())
            {
                const int ipprotoTcp = 6, tcpDeferAccept = 9, seconds = 1;
                // An optimization only: a kernel or sandbox that refuses it must not keep the gateway from starting.
                try { socket.SetRawSocketOption(ipprotoTcp, tcpDeferAccept, BitConverter.GetBytes(seconds)); }
                catch (SocketException) { }
            }
            socket.Bind(endpoint);
            socket.Listen(1024);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        _listeners.Add(socket);
        return socket;
    }

    private async Task AcceptLoopAsync(Socket listener, string name, Func<Socket, CancellationToken, Task> handle)
    {
        while (!_stopAccepting.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(_stopAccepting.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e)
            {
                _logger.LogWarning("{Listener} accept failed: {Error}", name, e.Message);
                continue;
            }
            client.NoDelay = true;
            if (Interlocked.Increment(ref _active) > _options.Limits.MaxConnections)
            {
                Interlocked.Decrement(ref _active);
                _logger.LogWarning("{Listener}: {Max} connections open; refusing {Client}", name, _options.Limits.MaxConnections, client.RemoteEndPoint);
                client.Dispose();
                continue;
            }
            var id = Interlocked.Increment(ref _nextConnection);
            // Served inline up to its first wait for the network (with TCP_DEFER_ACCEPT the request head is already
            // there, so that is usually the wait for the TLS ClientHello): no thread-pool hop per new connection. The
            // placeholder is replaced by the task unless the connection already ended and removed itself.
            _connections[id] = Task.CompletedTask;
            var served = ServeAsync(client, id, name, handle);
            _connections.TryUpdate(id, served, Task.CompletedTask);
        }
    }

    private async Task ServeAsync(Socket client, long id, string name, Func<Socket, CancellationToken, Task> handle)
    {
        try
        {
            await handle(client, _abort.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
        {
            _logger.LogDebug("{Listener} connection ended: {Error}", name, e.Message);
        }
        catch (Exception e)
        {
            // Fail closed: a bug in one connection closes that connection, never the gateway.
            _logger.LogError(e, "{Listener} connection failed", name);
        }
        finally
        {
            client.Dispose();
            Interlocked.Decrement(ref _active);
            _connections.TryRemove(id, out _);
        }
    }

    /// <summary>Stops accepting, lets open connections finish for up to the drain timeout, then cuts the rest.</summary>
    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 1) return;
        _context.Stopping = true;
        _stopAccepting.Cancel();
        foreach (var l in _listeners) l.Dispose();
        if (_dns is not null) await _dns.DisposeAsync().ConfigureAwait(false);
        await Task.WhenAll(_acceptLoops).ConfigureAwait(false);
        var open = _connections.Values.ToArray();
        if (open.Length > 0)
        {
            _logger.LogInformation("Draining {Count} open connection(s), up to {Seconds} s", open.Length, _options.Limits.DrainTimeout.TotalSeconds);
            var drained = Task.WhenAll(open);
            if (await Task.WhenAny(drained, Task.Delay(_options.Limits.DrainTimeout)).ConfigureAwait(false) != drained)
            {
                _logger.LogWarning("Drain timeout: cutting {Count} connection(s)", _connections.Count);
                _abort.Cancel();
                await Task.WhenAll(_connections.Values.ToArray()).ConfigureAwait(false);
            }
        }
        _context.Interceptor?.Dispose(); // idle pooled upstream connections
        _context.PlainRelay.Dispose();
        if (_ownedFlowLog is not null) await _ownedFlowLog.DisposeAsync().ConfigureAwait(false);
        _logger.LogInformation("Gateway stopped");
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _stopAccepting.Dispose();
        _abort.Dispose();
        _context.Splice.Dispose();
        _meter.Dispose();
    }
}

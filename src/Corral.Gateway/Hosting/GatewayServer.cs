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
/// <remarks>
/// Limits: the connection limit is the smaller of <see cref="GatewayLimits.MaxConnections"/> and what the open-file
/// limit can carry (<see cref="DescriptorBudget"/>); a connection over it, or any new one while the flow log cannot
/// record under <see cref="GatewayOptions.FlowLogFailClosed"/>, is refused by <see cref="AcceptRefusals"/>. When
/// accept(2) itself runs out of descriptors or memory the loop backs off (up to a second) instead of retrying at once,
/// and connections already open keep being served.
/// </remarks>
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
    private readonly AcceptRefusals _refusals;
    private readonly RateLimitedLine _acceptFailureLine = new(AcceptRefusals.LogInterval);
    private long _nextConnection;
    private int _maxConnections;
    private int _drained;
    private int _active;
    private int _stopped;

    public GatewayServer(CompiledPolicy policy, GatewayOptions options, ILoggerFactory loggerFactory, IResolver? resolver = null, IFlowLog? flowLog = null)
    {
        _options = options;
        _logger = loggerFactory.CreateLogger("Corral.Gateway");
        Policy = new PolicySource(policy);
        var hosts = options.HostsFile is null ? HostsFile.Empty : HostsFile.Load(options.HostsFile);
        resolver ??= new Resolver(hosts);
        if (flowLog is null && options.FlowLogPath is not null)
            flowLog = _ownedFlowLog = new FlowLogWriter(options.FlowLogPath, options.FlowLogMaxBytes, options.FlowLogMaxFiles, options.FlowLogQueueCapacity, _meter, loggerFactory.CreateLogger("Corral.Gateway.FlowLog"),
                options.FlowLogSigner, options.FlowLogCheckpointEvery);
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
        ToolPins = new Mcp.ToolPins(options.McpPinsPath ?? Mcp.ToolPins.PathFor(policy.Document.FilePath));
        var resolvedNames = options.Dns is { } dns ? new NameService.ResolvedNames(dns.NameEntries) : null;
        _context = new GatewayContext(options.Limits, new FlowDecider(Policy, resolver, decisionSeconds), _flowLog, _logger, _meter, options.DialGuard, _stopAccepting.Token, interceptor, resolvedNames)
        {
            ToolPins = ToolPins,
        };
        _refusals = new AcceptRefusals(_flowLog, _context, _meter, _logger);
        _maxConnections = options.Limits.MaxConnections ?? GatewayLimits.DefaultMaxConnections;
        if (options.Dns is { } dnsOptions)
            _dns = new NameService.DnsServer(dnsOptions, Policy, _flowLog, resolvedNames!, _meter, loggerFactory.CreateLogger("Corral.Gateway.Dns"), _context.NewFlowId, hosts);
    }

    /// <summary>The MCP tool pins of rules with <c>pinTools</c>, in a file next to the policy.</summary>
    public Mcp.ToolPins ToolPins { get; }

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

    /// <summary>True from the start of a graceful stop until open connections are drained (or cut).</summary>
    public bool IsDraining => Volatile.Read(ref _stopped) == 1 && Volatile.Read(ref _drained) == 0;

    /// <summary>Connections being served now.</summary>
    public int ActiveConnections => Volatile.Read(ref _active);

    /// <summary>Connections served at once at most: the configured limit, lowered to what the open-file limit carries.</summary>
    public int MaxConnections => Volatile.Read(ref _maxConnections);

    /// <summary>Connections refused at accept so far (connection limit, flow log failing closed).</summary>
    public long RefusedConnections => _refusals.Total;

    /// <summary>Whether the flow log records now, and what it lost so far.</summary>
    public FlowLogStatus FlowLogStatus => _flowLog.Status;

    public void Start()
    {
        if (_options.Listen is null && _options.Transparent is null) throw new InvalidOperationException("no listener configured");
        ApplyDescriptorBudget();
        if (_options.Listen is { } listen)
        {
            var socket = Bind(listen, clientSpeaksFirst: true);
            ListenEndPoint = (IPEndPoint)socket.LocalEndPoint!;
            _context.Self.Add(ListenEndPoint);
            var handler = new ExplicitProxyHandler(_context);
            _acceptLoops.Add(Task.Run(() => AcceptLoopAsync(socket, "explicit", handler.HandleAsync)));
            _logger.ExplicitListening(ListenEndPoint);
        }
        if (_options.Transparent is { } transparent)
        {
            var socket = Bind(transparent, clientSpeaksFirst: false);
            TransparentEndPoint = (IPEndPoint)socket.LocalEndPoint!;
            _context.Self.Add(TransparentEndPoint);
            var handler = new TransparentHandler(_context, TransparentEndPoint);
            _acceptLoops.Add(Task.Run(() => AcceptLoopAsync(socket, "transparent", handler.HandleAsync)));
            _logger.TransparentListening(TransparentEndPoint);
        }
        _dns?.Start();
        if (_dns?.EndPoint is { } resolver) _context.Self.Add(resolver);
    }

    /// <summary>Another endpoint this process serves (the admin API): no flow is ever dialled to it.</summary>
    public void AddOwnEndPoint(IPEndPoint endPoint) => _context.Self.Add(endPoint);

    /// <summary>
    /// Sets the connection limit to what the open-file limit can carry when none was chosen, and lowers a chosen one
    /// that it cannot carry, with a warning (only a value the operator chose is worth one).
    /// </summary>
    private void ApplyDescriptorBudget()
    {
        if (DescriptorBudget.OfThisProcess() is not { } budget) return;
        _logger.OpenFileBudget(budget.SoftLimit, budget.HardLimit, budget.OpenAtStart, budget.SafeConnections, DescriptorBudget.PerConnection, DescriptorBudget.Reserve);
        if (_options.Limits.MaxConnections is not { } configured) Volatile.Write(ref _maxConnections, budget.SafeConnections);
        else if (configured > budget.SafeConnections)
        {
            _logger.ConnectionLimitLowered(configured, budget.SafeConnections);
            Volatile.Write(ref _maxConnections, budget.SafeConnections);
        }
    }

    /// <param name="clientSpeaksFirst">
    /// True for the explicit proxy, whose clients always send a request head first: on Linux the listener then uses
    /// TCP_DEFER_ACCEPT, so a connection is accepted once its first bytes are there. The first read then completes at
    /// once instead of costing a failed recv, an epoll wait and a thread-pool hop per new connection. A client that
    /// connects and sends nothing is accepted anyway after about a second (one SYN-ACK retransmission) and then meets
    /// the head timeout as before. Never on the transparent listener: a server-first protocol would wait there.
    /// </param>
    /// <remarks>
    /// SO_REUSEADDR is set raw: .NET's ReuseAddress option also sets SO_REUSEPORT on Linux, with which a second
    /// gateway binds the same port and the kernel shares new connections between the two (and their policies).
    /// SO_REUSEADDR alone only allows a restart while old connections linger in TIME_WAIT. SO_REUSEPORT is set only
    /// when the operator asks for it (<see cref="GatewayOptions.ReusePort"/>).
    /// </remarks>
    /// <exception cref="IOException">The address is in use or cannot be bound; the message says which and why.</exception>
    private Socket Bind(IPEndPoint endpoint, bool clientSpeaksFirst)
    {
        const int solSocket = 1, soReuseAddr = 2, soReusePort = 15;
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (OperatingSystem.IsLinux())
            {
                socket.SetRawSocketOption(solSocket, soReuseAddr, BitConverter.GetBytes(1));
                if (_options.ReusePort) socket.SetRawSocketOption(solSocket, soReusePort, BitConverter.GetBytes(1));
            }
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
        catch (SocketException e)
        {
            socket.Dispose();
            var what = clientSpeaksFirst ? "--listen" : "--transparent";
            throw new IOException(e.SocketErrorCode == SocketError.AddressAlreadyInUse
                ? $"{what} {endpoint}: the address is already in use (another corral gateway or proxy listens there); stop it or choose another address. Sharing a port with another process needs --reuse-port"
                : $"{what} {endpoint}: cannot listen there: {e.Message}", e);
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
        var speaksHttp = name == "explicit";
        var backoff = TimeSpan.Zero;
        while (!_stopAccepting.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(_stopAccepting.Token).ConfigureAwait(false);
                backoff = TimeSpan.Zero;
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e)
            {
                // Out of descriptors (EMFILE/ENFILE) or kernel memory: the pending connection stays queued and accept
                // would fail again at once. Wait, longer each time, so that connections already open keep being served.
                var exhausted = e.SocketErrorCode is SocketError.TooManyOpenSockets or SocketError.NoBufferSpaceAvailable;
                if (_acceptFailureLine.ShouldWrite(out var heldBack))
                    _logger.AcceptFailed(name, e.Message, heldBack, exhausted ? "; backing off" : "");
                if (!exhausted) continue;
                backoff = TimeSpan.FromMilliseconds(Math.Clamp(backoff.TotalMilliseconds * 2, 10, 1000));
                try { await Task.Delay(backoff, _stopAccepting.Token).ConfigureAwait(false); }
                catch (OperationCanceledException) { return; }
                continue;
            }
            client.NoDelay = true;
            if (Interlocked.Increment(ref _active) > MaxConnections)
            {
                Interlocked.Decrement(ref _active);
                _refusals.Refuse(client, name, speaksHttp, Interception.Http.GatewayCheck.ConnectionLimit, $"{MaxConnections} connections open, the gateway's limit",
                    "The gateway is at its connection limit. Retry later; this is not a policy decision.");
                continue;
            }
            if (_options.FlowLogFailClosed && _flowLog.Status is { Recording: false } status)
            {
                Interlocked.Decrement(ref _active);
                _refusals.Refuse(client, name, speaksHttp, Interception.Http.GatewayCheck.FlowLog, $"the flow log cannot record ({status.Problem}) and the gateway fails closed",
                    "The gateway refuses new connections while it cannot keep its audit record. Retry later; this is not a policy decision.");
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
            _logger.ConnectionEnded(name, e.Message);
        }
        catch (Exception e)
        {
            // Fail closed: a bug in one connection closes that connection, never the gateway.
            _logger.ConnectionFailed(e, name);
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
        _stopAccepting.Cancel(); // the handlers read it as Stopping: kept-alive connections close after their current request
        foreach (var l in _listeners) l.Dispose();
        if (_dns is not null) await _dns.DisposeAsync().ConfigureAwait(false);
        await Task.WhenAll(_acceptLoops).ConfigureAwait(false);
        var open = _connections.Values.ToArray();
        if (open.Length > 0)
        {
            _logger.Draining(open.Length, _options.Limits.DrainTimeout.TotalSeconds);
            var drained = Task.WhenAll(open);
            if (await Task.WhenAny(drained, Task.Delay(_options.Limits.DrainTimeout)).ConfigureAwait(false) != drained)
            {
                _logger.DrainTimedOut(_connections.Count);
                _abort.Cancel();
                await Task.WhenAll(_connections.Values.ToArray()).ConfigureAwait(false);
            }
        }
        Volatile.Write(ref _drained, 1);
        _context.Interceptor?.Dispose(); // idle pooled upstream connections
        _context.PlainRelay.Dispose();
        if (_ownedFlowLog is not null) await _ownedFlowLog.DisposeAsync().ConfigureAwait(false);
        _logger.Stopped();
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

using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using Corral.Gateway.Decision;
using Corral.Gateway.FlowLog;
using Corral.Gateway.Observability;
using Corral.Policy.Compilation;
using Microsoft.Extensions.Logging;

namespace Corral.Gateway.NameService;

/// <summary>
/// The resolver for the agent subnet, over UDP and TCP. Each query is read with <see cref="DnsWire"/>, rate-limited
/// per source, refused when its source is in no source group of the policy (no open resolver), decided by the policy
/// in force (<see cref="NamePolicy"/>: a name no rule could permit is answered NXDOMAIN and never leaves), then answered from
/// the cache or the upstream. Every query is one <c>event: dns</c> flow record and counted.
/// </summary>
public sealed class DnsServer : IAsyncDisposable
{
    private const int MaxUdpAnswer = 1232; // the EDNS size that avoids fragmentation; larger answers go truncated, the client retries over TCP

    private readonly DnsOptions _options;
    private readonly IFlowLog _flowLog;
    private readonly ILogger _logger;
    private readonly Func<string> _newFlowId;
    private readonly DnsUpstream _upstream;
    private readonly AnswerCache _cache;
    private readonly SourceRateLimiter _rate;
    private readonly TunnelSignals _signals = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Counter<long> _queries, _flagged, _cacheHits;
    private readonly Histogram<double> _upstreamSeconds;
    private readonly List<Task> _loops = [];
    private readonly PolicySource _policy;
    private Socket? _udp, _tcp;
    private readonly Resolution.HostsFile _hosts;

    /// <summary>The TTL of answers from the hosts file: short, so an edited file (read at start) is not cached for long downstream.</summary>
    private const uint HostsTtl = 60;
    private int _pending, _tcpClients;

    /// <param name="hosts">The gateway's hosts file (<c>--hosts</c>): its names are answered from it, never asked upstream.</param>
    public DnsServer(DnsOptions options, PolicySource policy, IFlowLog flowLog, ResolvedNames resolvedNames, Meter meter, ILogger logger, Func<string> newFlowId,
        Resolution.HostsFile? hosts = null)
    {
        _options = options;
        _hosts = hosts ?? Resolution.HostsFile.Empty;
        _flowLog = flowLog;
        _logger = logger;
        _newFlowId = newFlowId;
        ResolvedNames = resolvedNames;
        _upstream = new DnsUpstream(options.Upstream, options.UpstreamTimeout);
        _cache = new AnswerCache(options.CacheEntries);
        _rate = new SourceRateLimiter(options.QueriesPerSecondPerSource, options.Burst);
        _policy = policy;
        _queries = meter.CreateCounter<long>("corral.gateway.dns.queries", description: "DNS queries answered, by action, rule, check and address_only");
        _flagged = meter.CreateCounter<long>("corral.gateway.dns.flagged", description: "DNS queries whose name looks like encoded data, by flag");
        _cacheHits = meter.CreateCounter<long>("corral.gateway.dns.cache.hits", description: "DNS queries answered from the cache");
        _upstreamSeconds = meter.CreateHistogram("corral.gateway.dns.upstream.duration", unit: "s", description: "Time the upstream resolver took to answer",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1, 2] });
    }

    /// <summary>Names agents resolved, by address: for logging flows that carry no name.</summary>
    public ResolvedNames ResolvedNames { get; }

    /// <summary>The bound endpoint (UDP and TCP share the port).</summary>
    public IPEndPoint? EndPoint { get; private set; }

    public void Start()
    {
        if (_options.Upstream.Equals(_options.Listen)) throw new ArgumentException($"--dns-upstream {_options.Upstream} is the resolver's own address");
        var (udp, tcp) = BindBoth(_options.Listen);
        _udp = udp;
        _tcp = tcp;
        // One receive loop per core on the one socket: a cached or refused answer is made inline on the loop's thread.
        for (var i = 0; i < Math.Max(1, Environment.ProcessorCount); i++) _loops.Add(Task.Run(UdpLoopAsync));
        _loops.Add(Task.Run(TcpLoopAsync));
        var names = _policy.Current.Names;
        var mode = names.EnforcesAddressOnly ? "enforce" : "watch";
        _logger.Listening(EndPoint, _options.Upstream, mode);
        if (names.AddressOnlyRules.Count > 0)
            _logger.AddressOnlyRules(names.AddressOnlyRules, names.EnforcesAddressOnly ? "refused" : "resolved and flagged", mode);
    }

    /// <summary>
    /// UDP and TCP on one port. With port 0 the kernel picks UDP's port, which TCP may already use (an outgoing
    /// connection's local port): then both are closed and another port is tried.
    /// </summary>
    private (Socket Udp, Socket Tcp) BindBoth(IPEndPoint listen)
    {
        for (var attempt = 1; ; attempt++)
        {
            var udp = new Socket(listen.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            var tcp = new Socket(listen.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                udp.Bind(listen);
                EndPoint = (IPEndPoint)udp.LocalEndPoint!;
                if (EndPoint.Equals(_options.Upstream)) throw new ArgumentException($"--dns-upstream {_options.Upstream} is the resolver's own address");
                tcp.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                tcp.Bind(EndPoint);
                tcp.Listen(256);
                return (udp, tcp);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse && listen.Port == 0 && attempt < 20)
            {
                udp.Dispose();
                tcp.Dispose();
            }
            catch
            {
                udp.Dispose();
                tcp.Dispose();
                throw;
            }
        }
    }

    private async Task UdpLoopAsync()
    {
        var socket = _udp!;
        var receive = new byte[65_536];
        var any = new IPEndPoint(socket.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0);
        while (!_stop.IsCancellationRequested)
        {
            SocketReceiveFromResult received;
            try { received = await socket.ReceiveFromAsync(receive, SocketFlags.None, any, _stop.Token).ConfigureAwait(false); }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException) { return; }
            catch (SocketException) { continue; } // e.g. an ICMP port unreachable reported for an earlier answer
            var client = (IPEndPoint)received.RemoteEndPoint;
            var query = receive.AsMemory(0, received.ReceivedBytes);
            var answer = ArrayPool<byte>.Shared.Rent(MaxUdpAnswer);
            var answering = AnswerAsync(query, client, "udp", answer, _stop.Token);
            if (answering.IsCompletedSuccessfully)
            {
                await SendUdpAsync(socket, answer, answering.Result, client).ConfigureAwait(false);
                continue;
            }
            // Waiting on the upstream: AnswerAsync copied the query before its first wait, so the buffer is free again.
            _ = FinishUdpAsync(socket, answering, answer, client);
        }
    }

    private async Task FinishUdpAsync(Socket socket, ValueTask<int> answering, byte[] answer, IPEndPoint client)
    {
        int length;
        try { length = await answering.ConfigureAwait(false); }
        catch (Exception e)
        {
            _logger.QueryFailed(e, client);
            ArrayPool<byte>.Shared.Return(answer);
            return;
        }
        await SendUdpAsync(socket, answer, length, client).ConfigureAwait(false);
    }

    private static async ValueTask SendUdpAsync(Socket socket, byte[] answer, int length, IPEndPoint client)
    {
        try
        {
            if (length > 0) await socket.SendToAsync(answer.AsMemory(0, length), SocketFlags.None, client).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
        finally { ArrayPool<byte>.Shared.Return(answer); }
    }

    private async Task TcpLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try { client = await _tcp!.AcceptAsync(_stop.Token).ConfigureAwait(false); }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException) { return; }
            catch (SocketException) { continue; }
            if (Interlocked.Increment(ref _tcpClients) > _options.MaxTcpConnections)
            {
                Interlocked.Decrement(ref _tcpClients);
                client.Dispose();
                continue;
            }
            _ = ServeTcpAsync(client);
        }
    }

    /// <summary>Queries framed by a two-byte length (RFC 1035 4.2.2), one after another, until the client is idle or sends too much.</summary>
    private async Task ServeTcpAsync(Socket socket)
    {
        var client = (IPEndPoint)socket.RemoteEndPoint!;
        var query = new byte[DnsWire.MaxQueryBytes];
        var answer = new byte[2 + ushort.MaxValue];
        try
        {
            await using var stream = new NetworkStream(socket, ownsSocket: true);
            var length = new byte[2];
            while (!_stop.IsCancellationRequested)
            {
                using var idle = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                idle.CancelAfter(_options.TcpIdleTimeout);
                if (!await ReadExactlyOrEndAsync(stream, length, idle.Token).ConfigureAwait(false)) return;
                var size = BinaryPrimitives.ReadUInt16BigEndian(length);
                if (size > DnsWire.MaxQueryBytes)
                {
                    Record(client, "tcp", null, 0, DnsWire.FormErr, false, null, $"a {size}-byte query is larger than {DnsWire.MaxQueryBytes} bytes", [], null, false, [], "malformed");
                    return; // the rest of the stream cannot be trusted to be framed
                }
                await stream.ReadExactlyAsync(query.AsMemory(0, size), idle.Token).ConfigureAwait(false);
                var n = await AnswerAsync(query.AsMemory(0, size), client, "tcp", answer.AsMemory(2), _stop.Token).ConfigureAwait(false);
                if (n == 0) continue;
                BinaryPrimitives.WriteUInt16BigEndian(answer, (ushort)n);
                await stream.WriteAsync(answer.AsMemory(0, n + 2), _stop.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ObjectDisposedException or EndOfStreamException) { }
        finally { Interlocked.Decrement(ref _tcpClients); }
    }

    private static async ValueTask<bool> ReadExactlyOrEndAsync(Stream stream, byte[] into, CancellationToken ct)
    {
        var read = await stream.ReadAtLeastAsync(into, into.Length, throwOnEndOfStream: false, ct).ConfigureAwait(false);
        return read == into.Length;
    }

    /// <summary>
    /// Answers one query into <paramref name="answer"/> and records it; returns the answer's length (0: nothing is
    /// sent). Synchronous up to the upstream query, so refused and cached answers never leave the caller's thread.
    /// </summary>
    internal ValueTask<int> AnswerAsync(ReadOnlyMemory<byte> query, IPEndPoint client, string transport, Memory<byte> answer, CancellationToken ct)
    {
        var span = query.Span;
        var error = DnsWire.TryReadQuery(span, out var question);
        if (error != DnsWireError.None)
        {
            Record(client, transport, null, 0, DnsWire.FormErr, false, null, $"malformed query: {error}", [], null, false, [], "malformed");
            // A message that is itself a response is never answered: no reflection loop between two resolvers.
            if (error == DnsWireError.NotAQuery || span.Length < 3) return ValueTask.FromResult(0);
            return ValueTask.FromResult(DnsWire.WriteAnswerWithoutRecords(span, 0, DnsWire.FormErr, answer.Span));
        }
        if (!_rate.TryTake(client.Address))
        {
            Record(client, transport, question.Name, question.Type, DnsWire.Refused, false, null,
                $"more than {_rate.PerSecond:0.#} queries a second from this source", [], null, false, [], "rate-limit");
            return ValueTask.FromResult(DnsWire.WriteAnswerWithoutRecords(span, question.End, DnsWire.Refused, answer.Span));
        }
        var names = _policy.Current.Names; // one snapshot for the whole query
        if (!names.Serves(client.Address))
        {
            _logger.NotASource(question.Name, client);
            Record(client, transport, question.Name, question.Type, DnsWire.Refused, false, null, "the source is in no source group of the policy (not an open resolver)", [], null, false, [], "not-a-source");
            return ValueTask.FromResult(DnsWire.WriteAnswerWithoutRecords(span, question.End, DnsWire.Refused, answer.Span));
        }
        var flags = _signals.Inspect(client.Address, question.Name);
        foreach (var flag in flags) _flagged.Add(1, new KeyValuePair<string, object?>("flag", flag));
        var verdict = names.Decide(client.Address, question.Name);
        if (!verdict.Forward)
        {
            _logger.QueryRefused(question.Name, DnsWire.TypeName(question.Type), client, verdict.Rule ?? "(default)", verdict.Reason);
            Record(client, transport, question.Name, question.Type, DnsWire.NxDomain, false, verdict.Rule, verdict.Reason, [], null, false, flags, null, verdict.AddressOnly);
            return ValueTask.FromResult(DnsWire.WriteAnswerWithoutRecords(span, question.End, DnsWire.NxDomain, answer.Span));
        }
        // The names the gateway itself resolves from --hosts: the agent gets the same addresses, and nothing goes upstream.
        if (_hosts.TryLookup(question.Name, out var fixedAddresses))
        {
            var n = DnsWire.WriteAnswerWithAddresses(span, question.End, question.Type, fixedAddresses, HostsTtl, answer.Span);
            var given = fixedAddresses.Where(a => question.Type == DnsWire.TypeA ? a.AddressFamily == AddressFamily.InterNetwork
                : question.Type == DnsWire.TypeAaaa && a.AddressFamily == AddressFamily.InterNetworkV6).ToArray();
            ResolvedNames.Remember(question.Name, given, HostsTtl);
            Record(client, transport, question.Name, question.Type, DnsWire.NoError, true, verdict.Rule, "answered from the gateway's hosts file", given, null, false, flags, null, verdict.AddressOnly);
            return ValueTask.FromResult(n);
        }
        if (_cache.TryGet(question, out var cached))
        {
            var n = _cache.WriteFor(cached, span, question.End, answer.Span);
            if (n > 0 && (transport == "tcp" || n <= MaxUdpAnswer))
            {
                _cacheHits.Add(1);
                Record(client, transport, question.Name, question.Type, DnsWire.ResponseCode(answer.Span), true, verdict.Rule, verdict.Reason, cached.Addresses, null, true, flags, null, verdict.AddressOnly);
                return ValueTask.FromResult(n);
            }
        }
        // Only what the policy judged goes upstream: the header and the question. The client's additional records
        // (EDNS options can carry arbitrary bytes) stay here; a reply too large for plain UDP comes back truncated and
        // is asked again over TCP.
        var forwarded = span[..question.End].ToArray();
        forwarded[10] = forwarded[11] = 0; // ARCOUNT
        return AskUpstreamAsync(forwarded, question, client, transport, verdict, flags, answer, ct);
    }

    private async ValueTask<int> AskUpstreamAsync(byte[] query, DnsQuestion question, IPEndPoint client, string transport, NameVerdict verdict, IReadOnlyList<string> flags,
        Memory<byte> answer, CancellationToken ct)
    {
        if (Interlocked.Increment(ref _pending) > _options.MaxPendingUpstream)
        {
            Interlocked.Decrement(ref _pending);
            Record(client, transport, question.Name, question.Type, DnsWire.ServFail, true, verdict.Rule, $"{_options.MaxPendingUpstream} upstream queries already waiting", [], null, false, flags, "busy", verdict.AddressOnly);
            return DnsWire.WriteAnswerWithoutRecords(query, question.End, DnsWire.ServFail, answer.Span);
        }
        byte[]? response;
        var started = Stopwatch.GetTimestamp();
        try { response = await _upstream.AskAsync(query, question, transport == "tcp", ct).ConfigureAwait(false); }
        finally { Interlocked.Decrement(ref _pending); }
        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        _upstreamSeconds.Record(seconds);
        if (response is null)
        {
            Record(client, transport, question.Name, question.Type, DnsWire.ServFail, true, verdict.Rule, $"the upstream resolver {_upstream.EndPoint} did not answer", [], seconds * 1000, false, flags, null, verdict.AddressOnly);
            return DnsWire.WriteAnswerWithoutRecords(query, question.End, DnsWire.ServFail, answer.Span);
        }
        // An agent never learns the ECH keys of a name through the gateway (docs/interception.md): a response that
        // cannot be rewritten safely is not passed on.
        if (DnsWire.TryStripEch(response, out var withoutEch) is not DnsWireError.None and var stripError)
        {
            Record(client, transport, question.Name, question.Type, DnsWire.ServFail, true, verdict.Rule, $"the upstream's answer could not be read to remove ECH keys: {stripError}", [], seconds * 1000, false, flags, "malformed", verdict.AddressOnly);
            return DnsWire.WriteAnswerWithoutRecords(query, question.End, DnsWire.ServFail, answer.Span);
        }
        response = withoutEch ?? response;
        var addresses = new List<IPAddress>();
        var ttlOffsets = new List<int>();
        DnsWire.TryReadResponse(response, DnsWire.IdOf(response), question, addresses, ttlOffsets, out var ttl); // checked by DnsUpstream
        var code = DnsWire.ResponseCode(response);
        if (code == DnsWire.NoError)
        {
            _cache.Store(question, response, ttlOffsets, addresses, ttl);
            ResolvedNames.Remember(question.Name, addresses, ttl);
        }
        Record(client, transport, question.Name, question.Type, code, true, verdict.Rule, verdict.Reason, addresses, seconds * 1000, false, flags, null, verdict.AddressOnly);
        if (transport == "udp" && response.Length > MaxUdpAnswer)
        {
            var n = DnsWire.WriteAnswerWithoutRecords(query, question.End, DnsWire.NoError, answer.Span);
            answer.Span[2] |= 0x02; // TC: the client asks again over TCP
            return n;
        }
        response.CopyTo(answer);
        DnsWire.SetId(answer.Span, DnsWire.IdOf(query));
        query.AsSpan(DnsWire.HeaderLength, question.End - DnsWire.HeaderLength).CopyTo(answer.Span[DnsWire.HeaderLength..]); // the client's spelling of the question
        return response.Length;
    }

    private void Record(IPEndPoint client, string transport, string? name, ushort type, byte code, bool answered, string? rule, string reason,
        IReadOnlyList<IPAddress> answers, double? upstreamMs, bool cached, IReadOnlyList<string> flags, string? check, bool addressOnly = false)
    {
        _queries.Add(1, new KeyValuePair<string, object?>("action", answered ? "permit" : "deny"),
            new KeyValuePair<string, object?>("rule", check is not null ? "(refused)" : rule ?? "(default)"),
            new KeyValuePair<string, object?>("check", check ?? ""),
            new KeyValuePair<string, object?>("address_only", addressOnly ? "true" : "false"));
        var flowId = _newFlowId();
        var typeName = type == 0 ? "" : DnsWire.TypeName(type);
        FlowTracing.DnsQuery(flowId, client, transport, name, typeName, DnsWire.CodeName(code), answered, rule, check, reason, upstreamMs);
        _flowLog.Write(new FlowRecord
        {
            Event = FlowEvent.Dns, Time = DateTimeOffset.UtcNow, FlowId = flowId, Listener = "dns", Source = client, Host = name,
            Check = check, Refusal = check is null ? null : reason,
            Dns = new DnsQueryFacts(transport, typeName, DnsWire.CodeName(code), answered, rule, reason, addressOnly, answers, upstreamMs, cached, flags),
        });
    }

    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested) return;
        _stop.Cancel();
        _udp?.Dispose();
        _tcp?.Dispose();
        await Task.WhenAll(_loops).ConfigureAwait(false);
    }
}

using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using Corral.Gateway.FlowLog;
using Corral.Gateway.Proxy;
using Corral.Policy.Addressing;
using Microsoft.Extensions.Logging;

using Corral.Interception.Http;

namespace Corral.Gateway.Hosting;

/// <summary>
/// Turns away a connection the gateway will not serve (over the connection limit, or the flow log cannot record and
/// the operator asked to fail closed): an explicit client gets 503 with the refusal body naming the check, every
/// refusal is counted and gets a decision and a close record, and the log line is rate-limited so that a flood of
/// refusals cannot flood the log.
/// </summary>
internal sealed class AcceptRefusals(IFlowLog flowLog, GatewayContext context, Meter meter, ILogger logger)
{
    /// <summary>At most one log line per check this often (with the count of refusals since the last one).</summary>
    public static readonly TimeSpan LogInterval = TimeSpan.FromSeconds(10);


    private readonly Counter<long> _refused = meter.CreateCounter<long>("corral.gateway.connections.refused", description: "Connections refused at accept by the gateway's own checks (check: connection-limit, flow-log)");
    private readonly Dictionary<string, RateLimitedLine> _lines = new()
    {
        [GatewayCheck.ConnectionLimit] = new(LogInterval), [GatewayCheck.FlowLog] = new(LogInterval),
    };
    private long _total;

    /// <summary>Connections refused so far.</summary>
    public long Total => Interlocked.Read(ref _total);

    /// <param name="speaksHttp">True on the explicit listener, whose clients read an HTTP answer.</param>
    public void Refuse(Socket client, string listener, bool speaksHttp, string check, string reason, string advice)
    {
        Interlocked.Increment(ref _total);
        var source = client.RemoteEndPoint is IPEndPoint remote ? new IPEndPoint(IpBits.Canonical(remote.Address), remote.Port) : new IPEndPoint(IPAddress.None, 0);
        _refused.Add(1, new KeyValuePair<string, object?>("listener", listener), new KeyValuePair<string, object?>("check", check));
        context.Metrics.Flows.Add(1, new KeyValuePair<string, object?>("rule", "(refused)"), new KeyValuePair<string, object?>("action", "deny"), new KeyValuePair<string, object?>("enforced", "true"));
        context.Metrics.Denied.Add(1);
        var id = context.NewFlowId();
        var note = $"{check}: {reason}";
        var now = DateTimeOffset.UtcNow;
        flowLog.Write(new FlowRecord { Event = FlowEvent.Decision, Time = now, FlowId = id, Listener = listener, Source = source, Refusal = note });
        flowLog.Write(new FlowRecord { Event = FlowEvent.Close, Time = now, FlowId = id, Listener = listener, Source = source, Refusal = note, DurationMs = 0 });
        if (_lines[check].ShouldWrite(out var since))
            logger.ConnectionRefused(listener, source, check, reason, since);
        if (speaksHttp) Answer(client, (Refusal.ByCheck(check, "(not read)", reason, 503) with { AdviceText = advice }).ToHttpResponse());
        client.Dispose();
    }

    /// <summary>
    /// Sends the answer without waiting on the client (a fresh socket's send buffer takes a few hundred bytes at once).
    /// What the client already sent is read first: closing a socket with unread bytes sends a reset, which could
    /// destroy the answer before the client reads it.
    /// </summary>
    private static void Answer(Socket client, byte[] response)
    {
        try
        {
            client.Blocking = false;
            Span<byte> sink = stackalloc byte[4096];
            for (var i = 0; i < 16 && client.Available > 0; i++)
                if (client.Receive(sink, SocketFlags.None, out _) <= 0) break;
            client.Send(response, SocketFlags.None, out _);
            client.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
    }
}

/// <summary>Lets one log line through per interval and counts the ones held back (thread-safe, no lock).</summary>
internal sealed class RateLimitedLine(TimeSpan interval)
{
    private long _nextAt = long.MinValue;
    private long _heldBack;

    /// <summary>True when a line may be written now; <paramref name="heldBack"/> is how many were held back before it.</summary>
    public bool ShouldWrite(out long heldBack)
    {
        var now = Environment.TickCount64;
        var next = Interlocked.Read(ref _nextAt);
        if (now >= next && Interlocked.CompareExchange(ref _nextAt, now + (long)interval.TotalMilliseconds, next) == next)
        {
            heldBack = Interlocked.Exchange(ref _heldBack, 0);
            return true;
        }
        Interlocked.Increment(ref _heldBack);
        heldBack = 0;
        return false;
    }
}

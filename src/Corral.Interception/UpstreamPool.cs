using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;

namespace Corral.Interception;

/// <summary>
/// What a pooled upstream connection may be reused for: the TLS server name it was verified for and the address the
/// gateway dialled for it. Both come from a flow the policy permitted, so a connection is only ever lent to a later
/// flow that the policy permitted to the same name at the same address.
/// </summary>
public readonly record struct UpstreamKey(string ServerName, IPEndPoint Address);

/// <summary>A connection to a real destination (verified TLS, or plain TCP), with the reader its responses are parsed from.</summary>
internal sealed class UpstreamConnection(Stream stream, Socket? socket) : IAsyncDisposable, IDisposable
{
    public Stream Stream { get; } = stream;
    public PipeReader Reader { get; } = PipeReader.Create(stream, new StreamPipeReaderOptions(leaveOpen: true));

    /// <summary>Responses read to their end on this connection: more than zero means its liveness is not known first-hand.</summary>
    public int Served { get; set; }

    /// <summary>True only between a response read to its end (neither side asking to close) and the next request.</summary>
    public bool Clean { get; set; }

    /// <summary>Cleared for good once connection-bound authentication (NTLM, Negotiate) is seen: never lent to another client.</summary>
    public bool Poolable { get; set; } = true;

    /// <summary>When it went idle in the pool (Environment.TickCount64).</summary>
    public long IdleSince { get; set; }

    /// <summary>
    /// Whether an idle connection still looks usable: nothing buffered, nothing readable on the socket (an idle HTTP/1.1
    /// connection has nothing to say; readable means a close, a TLS alert or stray bytes, and none of those is reused).
    /// </summary>
    public bool LooksIdle()
    {
        if (!Clean || !Poolable) return false;
        if (Reader.TryRead(out var buffered))
        {
            var empty = buffered.Buffer.IsEmpty && !buffered.IsCompleted;
            Reader.AdvanceTo(buffered.Buffer.Start);
            if (!empty) return false;
        }
        if (socket is null) return true;
        try
        {
            return socket.Connected && !socket.Poll(0, SelectMode.SelectRead);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Reader.CompleteAsync();
        await Stream.DisposeAsync();
    }

    public void Dispose()
    {
        Reader.Complete();
        Stream.Dispose();
    }
}

/// <summary>
/// Idle upstream TLS connections kept after an intercepted client connection ends, lent to the next intercepted flow
/// with the same <see cref="UpstreamKey"/> instead of a new TCP + TLS handshake. Bounded per key and in total; a
/// connection idle longer than the idle timeout is closed by a sweep, and one that looks closed is never lent.
/// </summary>
internal sealed class UpstreamPool : IDisposable
{
    private readonly Dictionary<UpstreamKey, List<UpstreamConnection>> _idle = [];
    private readonly int _maxPerKey, _maxTotal;
    private readonly long _idleMs;
    private readonly Timer? _sweep;
    private int _total;
    private bool _disposed;

    public UpstreamPool(int maxPerKey, int maxTotal, TimeSpan idleTimeout)
    {
        _maxPerKey = Math.Max(0, maxPerKey);
        _maxTotal = Math.Max(0, maxTotal);
        _idleMs = (long)idleTimeout.TotalMilliseconds;
        if (Enabled)
        {
            var period = TimeSpan.FromMilliseconds(Math.Clamp(_idleMs / 2, 250, 5000));
            _sweep = new Timer(_ => Sweep(), null, period, period);
        }
    }

    public bool Enabled => _maxPerKey > 0 && _maxTotal > 0 && _idleMs > 0;

    /// <summary>Idle connections held now.</summary>
    public int Count { get { lock (_idle) return _total; } }

    /// <summary>The most recently returned idle connection for the key that still looks usable, or null.</summary>
    /// <summary>Whether an idle connection is held for the key (it may still turn out stale when rented).</summary>
    public bool HasIdle(UpstreamKey key)
    {
        lock (_idle) return _idle.TryGetValue(key, out var list) && list.Count > 0;
    }

    public UpstreamConnection? TryRent(UpstreamKey key)
    {
        List<UpstreamConnection>? unusable = null;
        UpstreamConnection? found = null;
        var now = Environment.TickCount64;
        lock (_idle)
        {
            if (!_idle.TryGetValue(key, out var list)) return null;
            while (list.Count > 0)
            {
                var c = list[^1];
                list.RemoveAt(list.Count - 1);
                _total--;
                if (now - c.IdleSince < _idleMs && c.LooksIdle()) { found = c; break; }
                (unusable ??= []).Add(c);
            }
            if (list.Count == 0) _idle.Remove(key);
        }
        if (unusable is not null) foreach (var c in unusable) c.Dispose();
        return found;
    }

    /// <summary>Keeps a connection for reuse, or closes it when it is not clean, the pool is full or disposed.</summary>
    public void Return(UpstreamKey key, UpstreamConnection connection)
    {
        if (Enabled && connection.Clean && connection.Poolable)
        {
            lock (_idle)
            {
                if (!_disposed && _total < _maxTotal)
                {
                    if (!_idle.TryGetValue(key, out var list)) _idle[key] = list = [];
                    if (list.Count < _maxPerKey)
                    {
                        connection.IdleSince = Environment.TickCount64;
                        list.Add(connection);
                        _total++;
                        return;
                    }
                }
            }
        }
        connection.Dispose();
    }

    // Closes connections idle past the timeout (the oldest sit at the front of each list) and any that look closed.
    private void Sweep()
    {
        List<UpstreamConnection>? expired = null;
        var now = Environment.TickCount64;
        lock (_idle)
        {
            foreach (var (key, list) in _idle)
            {
                for (var i = list.Count - 1; i >= 0; i--)
                {
                    if (now - list[i].IdleSince < _idleMs && list[i].LooksIdle()) continue;
                    (expired ??= []).Add(list[i]);
                    list.RemoveAt(i);
                    _total--;
                }
            }
            foreach (var key in _idle.Where(kv => kv.Value.Count == 0).Select(kv => kv.Key).ToList()) _idle.Remove(key);
        }
        if (expired is not null) foreach (var c in expired) c.Dispose();
    }

    public void Dispose()
    {
        List<UpstreamConnection> all;
        lock (_idle)
        {
            if (_disposed) return;
            _disposed = true;
            all = [.. _idle.Values.SelectMany(l => l)];
            _idle.Clear();
            _total = 0;
        }
        _sweep?.Dispose();
        foreach (var c in all) c.Dispose();
    }
}

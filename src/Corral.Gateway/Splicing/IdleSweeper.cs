namespace Corral.Gateway.Splicing;

/// <summary>
/// One timer for every tunnel's idle timeout: each tunnel notes when bytes last moved, and a periodic sweep cuts those
/// idle longer than the limit. Cheaper than a timer per tunnel, and a busy tunnel pays only a store per transfer.
/// </summary>
internal sealed class IdleSweeper : IDisposable
{
    private readonly Lock _lock = new();
    private readonly TimeSpan _period;
    private Timer? _timer;
    private Entry? _head;
    private bool _disposed;

    public IdleSweeper(TimeSpan period) => _period = period;

    /// <summary>The sweep period for an idle timeout: a tunnel is cut between 1× and 1.25× the timeout.</summary>
    public static TimeSpan PeriodFor(TimeSpan idle) => TimeSpan.FromMilliseconds(Math.Clamp(idle.TotalMilliseconds / 4, 20, 30_000));

    /// <summary>Watches a tunnel until its entry is disposed; the entry's token is cancelled when it idles too long.</summary>
    public Entry Watch(TimeSpan idle, CancellationToken outer)
    {
        var entry = new Entry(this, (long)idle.TotalMilliseconds, outer);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _timer ??= new Timer(static s => ((IdleSweeper)s!).Sweep(), this, _period, _period);
            entry.Next = _head;
            if (_head is not null) _head.Previous = entry;
            _head = entry;
        }
        return entry;
    }

    private void Remove(Entry entry)
    {
        lock (_lock)
        {
            if (entry.Previous is null && _head != entry) return; // already removed
            if (entry.Previous is not null) entry.Previous.Next = entry.Next;
            else _head = entry.Next;
            if (entry.Next is not null) entry.Next.Previous = entry.Previous;
            entry.Previous = entry.Next = null;
        }
    }

    private void Sweep()
    {
        var now = Environment.TickCount64;
        List<Entry>? idle = null;
        lock (_lock)
        {
            for (var e = _head; e is not null; e = e.Next)
                if (now - Volatile.Read(ref e.LastActive) > e.LimitMs) (idle ??= []).Add(e);
        }
        // Cancelled outside the lock: cancellation runs continuations that remove their own entries.
        if (idle is not null) foreach (var e in idle) e.Cut();
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
            _timer?.Dispose();
            _timer = null;
        }
    }

    /// <summary>One watched tunnel: touch it when bytes move; dispose it when the tunnel ends.</summary>
    internal sealed class Entry : IDisposable
    {
        private readonly IdleSweeper _owner;
        private readonly CancellationTokenSource _cut;
        internal long LastActive = Environment.TickCount64;
        internal readonly long LimitMs;
        internal Entry? Previous, Next;

        internal Entry(IdleSweeper owner, long limitMs, CancellationToken outer)
        {
            _owner = owner;
            LimitMs = limitMs;
            _cut = CancellationTokenSource.CreateLinkedTokenSource(outer);
        }

        /// <summary>Cancelled when the tunnel idles too long, the outer token fires, or <see cref="Cut"/> is called.</summary>
        public CancellationToken Token => _cut.Token;

        public void Touch() => Volatile.Write(ref LastActive, Environment.TickCount64);

        /// <summary>Ends the tunnel both ways (also used when one direction fails).</summary>
        public void Cut()
        {
            try { _cut.Cancel(); }
            catch (ObjectDisposedException) { /* the tunnel already ended */ }
        }

        public void Dispose()
        {
            _owner.Remove(this);
            _cut.Dispose();
        }
    }
}

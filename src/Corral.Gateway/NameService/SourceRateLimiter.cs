using System.Collections.Concurrent;
using System.Net;

namespace Corral.Gateway.NameService;

/// <summary>
/// A token bucket per source address: <see cref="PerSecond"/> queries a second, bursts up to <see cref="Burst"/>.
/// Bounded: when <see cref="MaxSources"/> buckets exist, full (idle) ones are dropped; if none is, a new source is refused
/// until some are (fail closed under a flood of spoofed sources).
/// </summary>
public sealed class SourceRateLimiter(double perSecond, double burst, TimeProvider? time = null)
{
    public const int MaxSources = 65_536;

    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly ConcurrentDictionary<IPAddress, Bucket> _buckets = new();

    public double PerSecond { get; } = perSecond;
    public double Burst { get; } = Math.Max(1, burst);

    private sealed class Bucket(double tokens, long at)
    {
        public double Tokens = tokens;
        public long At = at;
    }

    public bool TryTake(IPAddress source)
    {
        var now = _time.GetTimestamp();
        if (!_buckets.TryGetValue(source, out var bucket))
        {
            if (_buckets.Count >= MaxSources && !Sweep(now)) return false;
            bucket = _buckets.GetOrAdd(source, _ => new Bucket(Burst, now));
        }
        lock (bucket)
        {
            var seconds = (now - bucket.At) / (double)_time.TimestampFrequency;
            bucket.Tokens = Math.Min(Burst, bucket.Tokens + seconds * PerSecond);
            bucket.At = now;
            if (bucket.Tokens < 1) return false;
            bucket.Tokens -= 1;
            return true;
        }
    }

    /// <summary>Drops buckets that have refilled (their sources are idle); true when room was made.</summary>
    private bool Sweep(long now)
    {
        foreach (var (source, bucket) in _buckets)
        {
            bool idle;
            lock (bucket) idle = bucket.Tokens + (now - bucket.At) / (double)_time.TimestampFrequency * PerSecond >= Burst;
            if (idle) _buckets.TryRemove(source, out _);
        }
        return _buckets.Count < MaxSources;
    }
}

using System.Collections.Concurrent;
using Corral.Policy.Compilation;

namespace Corral.Gateway.Proxy;

/// <summary>
/// What each agent has used of its budget (<c>agents.NAME.budget</c>) in this gateway process: requests in the last
/// minute and bytes sent upstream in the last hour, over sliding windows. The limits are read from the policy snapshot
/// at every check, so a reload changes them at once; the counts outlive reloads.
/// </summary>
internal sealed class AgentBudgets(TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly ConcurrentDictionary<string, Usage> _usage = new(StringComparer.Ordinal);

    /// <summary>
    /// Counts one request (a flow, or an HTTP request in one) against the agent's budget, with the body bytes it declares;
    /// the reason when over, and then nothing is counted. <paramref name="countsRequest"/> false: a request counted already (as its flow), checked for bytes only.
    /// </summary>
    public string? TryStart(CompiledAgent agent, long declaredBytes = 0, bool countsRequest = true)
    {
        if (agent.Budget is not { } budget) return null;
        var usage = _usage.GetOrAdd(agent.Name, _ => new Usage());
        var now = NowTicks();
        lock (usage)
        {
            if (countsRequest && budget.RequestsPerMinute is { } rpm && usage.Requests.Sum(now) >= rpm)
                return $"agent {agent.Name} is over its budget of {rpm} requests a minute";
            if (budget.UpstreamBytesPerHour is { } bph && usage.Bytes.Sum(now) + Math.Max(0, declaredBytes) > bph)
                return $"agent {agent.Name} is over its budget of {bph} bytes sent upstream an hour";
            if (countsRequest) usage.Requests.Add(now, 1);
            return null;
        }
    }

    /// <summary>Counts bytes the agent sent upstream; whether it is now over its hourly budget.</summary>
    public bool AddBytes(CompiledAgent agent, long bytes)
    {
        if (agent.Budget?.UpstreamBytesPerHour is not { } bph || bytes <= 0) return false;
        var usage = _usage.GetOrAdd(agent.Name, _ => new Usage());
        var now = NowTicks();
        lock (usage)
        {
            usage.Bytes.Add(now, bytes);
            return usage.Bytes.Sum(now) > bph;
        }
    }

    // Monotonic time in TimeSpan ticks. Not timestamp * TicksPerSecond / frequency: with a nanosecond timestamp that
    // product overflows a long after about 15 minutes of uptime, and a wrapped, negative "now" indexed the buckets below zero.
    private long NowTicks() => _time.GetElapsedTime(0, _time.GetTimestamp()).Ticks;

    private sealed class Usage
    {
        public readonly SlidingCount Requests = new(TimeSpan.FromMinutes(1));
        public readonly SlidingCount Bytes = new(TimeSpan.FromHours(1));
    }

    /// <summary>A count over the last window, kept in 60 buckets: what left the window more than a bucket ago is forgotten.</summary>
    private sealed class SlidingCount(TimeSpan window)
    {
        private const int Buckets = 60;
        private readonly long _bucketTicks = window.Ticks / Buckets;
        private readonly long[] _counts = new long[Buckets];
        private readonly long[] _bucketOf = new long[Buckets]; // which bucket number each slot holds

        public void Add(long nowTicks, long n)
        {
            var bucket = nowTicks / _bucketTicks;
            var slot = (int)(bucket % Buckets);
            if (_bucketOf[slot] != bucket) (_bucketOf[slot], _counts[slot]) = (bucket, 0);
            _counts[slot] += n;
        }

        public long Sum(long nowTicks)
        {
            var bucket = nowTicks / _bucketTicks;
            var sum = 0L;
            for (var i = 0; i < Buckets; i++)
                if (bucket - _bucketOf[i] < Buckets) sum += _counts[i];
            return sum;
        }
    }
}

using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;

namespace Corral.Gateway.NameService;

/// <summary>An upstream answer kept for its TTL: the message, where its TTLs are, and the addresses it gave.</summary>
public sealed record CachedAnswer(byte[] Message, int[] TtlOffsets, IReadOnlyList<IPAddress> Addresses, long StoredAt, long ExpiresAt);

/// <summary>
/// Upstream answers by (name, type, class), each for its smallest TTL (capped at <see cref="MaxTtl"/>), at most
/// <see cref="Capacity"/> of them: when full, expired answers are dropped, and if none is expired the new one is not
/// kept. A copy served from here has its TTLs aged by the time it was kept, the client's id and the client's spelling
/// of the question (0x20 case randomization still matches).
/// </summary>
public sealed class AnswerCache(int capacity, TimeProvider? time = null)
{
    public static readonly TimeSpan MaxTtl = TimeSpan.FromHours(1);
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly ConcurrentDictionary<(string, ushort, ushort), CachedAnswer> _answers = new();

    public int Capacity { get; } = Math.Max(16, capacity);
    public int Count => _answers.Count;

    public void Store(in DnsQuestion question, ReadOnlySpan<byte> message, List<int> ttlOffsets, IReadOnlyList<IPAddress> addresses, uint ttl)
    {
        if (ttl == 0) return;
        var now = _time.GetTimestamp();
        var keep = TimeSpan.FromSeconds(Math.Min(ttl, MaxTtl.TotalSeconds));
        if (_answers.Count >= Capacity && !DropExpired(now)) return;
        _answers[(question.Name, question.Type, question.Class)] =
            new CachedAnswer(message.ToArray(), ttlOffsets.ToArray(), addresses.ToArray(), now, now + (long)(keep.TotalSeconds * _time.TimestampFrequency));
    }

    public bool TryGet(in DnsQuestion question, out CachedAnswer answer)
    {
        if (_answers.TryGetValue((question.Name, question.Type, question.Class), out answer!))
        {
            if (_time.GetTimestamp() < answer.ExpiresAt) return true;
            _answers.TryRemove(new KeyValuePair<(string, ushort, ushort), CachedAnswer>((question.Name, question.Type, question.Class), answer));
        }
        return false;
    }

    /// <summary>
    /// Writes the cached answer for the query into <paramref name="into"/>: the query's id and question bytes, TTLs
    /// less the seconds it has been kept. Returns the length, or 0 when it does not fit.
    /// </summary>
    public int WriteFor(CachedAnswer answer, ReadOnlySpan<byte> query, int questionEnd, Span<byte> into)
    {
        if (answer.Message.Length > into.Length || questionEnd > answer.Message.Length) return 0;
        answer.Message.CopyTo(into);
        query[..2].CopyTo(into);
        query[DnsWire.HeaderLength..questionEnd].CopyTo(into[DnsWire.HeaderLength..]);
        var aged = (uint)((_time.GetTimestamp() - answer.StoredAt) / _time.TimestampFrequency);
        foreach (var at in answer.TtlOffsets)
        {
            var ttl = BinaryPrimitives.ReadUInt32BigEndian(into[at..]);
            BinaryPrimitives.WriteUInt32BigEndian(into[at..], ttl > aged ? ttl - aged : 0);
        }
        return answer.Message.Length;
    }

    private bool DropExpired(long now)
    {
        foreach (var (key, answer) in _answers)
            if (now >= answer.ExpiresAt) _answers.TryRemove(key, out _);
        return _answers.Count < Capacity;
    }
}

/// <summary>
/// Which name an agent resolved to reach an address, for the TTL of the answer (at most <see cref="AnswerCache.MaxTtl"/>):
/// a transparent flow that carries no SNI or Host is logged with it. At most <see cref="Capacity"/> addresses; when
/// full, expired ones are dropped, and if none is the new one is not kept. Only logged, never decided on: a name an
/// agent resolved says nothing about where a connection really goes.
/// </summary>
public sealed class ResolvedNames(int capacity, TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly ConcurrentDictionary<IPAddress, (string Name, long ExpiresAt)> _names = new();

    public int Capacity { get; } = Math.Max(16, capacity);

    public void Remember(string name, IReadOnlyList<IPAddress> addresses, uint ttl)
    {
        if (ttl == 0 || addresses.Count == 0) return;
        var now = _time.GetTimestamp();
        var expires = now + (long)(Math.Min(ttl, AnswerCache.MaxTtl.TotalSeconds) * _time.TimestampFrequency);
        foreach (var address in addresses)
        {
            if (_names.Count >= Capacity && !_names.ContainsKey(address) && !DropExpired(now)) return;
            _names[IpCanonical(address)] = (name, expires);
        }
    }

    public string? NameOf(IPAddress address) =>
        _names.TryGetValue(IpCanonical(address), out var entry) && _time.GetTimestamp() < entry.ExpiresAt ? entry.Name : null;

    private static IPAddress IpCanonical(IPAddress address) => Corral.Policy.Addressing.IpBits.Canonical(address);

    private bool DropExpired(long now)
    {
        foreach (var (address, entry) in _names)
            if (now >= entry.ExpiresAt) _names.TryRemove(address, out _);
        return _names.Count < Capacity;
    }
}

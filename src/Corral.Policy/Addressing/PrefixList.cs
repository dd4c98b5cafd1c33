using System.Collections;

namespace Corral.Policy.Addressing;

/// <summary>
/// A read-only list of prefixes in one word each: an IPv4 prefix is its address and length packed into a ulong, an
/// IPv6 prefix a marked index into a side array. A threat feed of a million addresses costs 8 MB here instead of the
/// 32 MB of <see cref="IpPrefix"/> values (a UInt128 and two bytes, padded to 32), and the document that keeps the
/// feed is kept for as long as its compiled policy is in force. Order is the order added.
/// </summary>
internal sealed class PrefixList : IReadOnlyList<IpPrefix>
{
    private const ulong V6Mark = 1UL << 63;

    private readonly ulong[] _items; // the first Count are in use
    private readonly IpPrefix[] _v6;

    private PrefixList(ulong[] items, int count, IpPrefix[] v6)
    {
        _items = items;
        Count = count;
        _v6 = v6;
    }

    public int Count { get; }

    public IpPrefix this[int index]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)Count, nameof(index));
            var item = _items[index];
            return (item & V6Mark) != 0
                ? _v6[(int)(uint)item]
                : new IpPrefix((uint)(item >> 8), (byte)item, IsV4: true);
        }
    }

    public IEnumerator<IpPrefix> GetEnumerator()
    {
        for (var i = 0; i < Count; i++) yield return this[i];
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>Collects prefixes in order; <see cref="Build"/> hands over the storage without copying when it is nearly full.</summary>
    /// <param name="capacity">An upper bound when known (a feed's line count), so the storage is allocated once.</param>
    public sealed class Builder(int capacity)
    {
        private ulong[] _items = new ulong[Math.Max(capacity, 4)];
        private readonly List<IpPrefix> _v6 = [];
        private int _count;

        public void Add(IpPrefix prefix)
        {
            if (_count == _items.Length) Array.Resize(ref _items, _items.Length * 2);
            _items[_count++] = prefix.IsV4
                ? ((ulong)(uint)prefix.Bits << 8) | prefix.Length
                : V6Mark | (uint)AddV6(prefix);
        }

        private int AddV6(IpPrefix prefix)
        {
            _v6.Add(prefix);
            return _v6.Count - 1;
        }

        public PrefixList Build()
        {
            // Comment and domain lines leave slots unused: a few are kept, a large overestimate is trimmed.
            var items = _count >= _items.Length - _items.Length / 8 ? _items : _items[.._count];
            return new PrefixList(items, _count, [.. _v6]);
        }
    }
}

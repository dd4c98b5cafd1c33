using System.Numerics;

namespace Corral.Policy.Compilation;

/// <summary>
/// The address space of one family cut into disjoint ranges, each labelled with the id of the set of groups that
/// cover it. One binary search answers "which groups contain this address" for any number of overlapping CIDRs;
/// this is the flattened equivalent of walking a prefix trie and collecting every prefix on the path.
/// </summary>
internal sealed class RangeMap<T> where T : unmanaged, IBinaryInteger<T>, IUnsignedNumber<T>, IMinMaxValue<T>
{
    // The top BucketBits bits of an address pick a bucket; _bucketFirst[b] is the index of the first range start in
    // bucket b or later (so bucket b's starts are _starts[_bucketFirst[b] .. _bucketFirst[b + 1])). A lookup then
    // binary-searches only its bucket: with a million ranges that is a few entries on one or two cache lines instead
    // of twenty probes across the whole array, most of them cache misses. The index costs 256 KiB per family, so a
    // small map (a hand-written policy) goes without: its starts fit in cache, and a reload allocates no large object.
    private const int BucketBits = 16;
    private const int IndexThreshold = 4096;
    private static readonly int Shift = System.Runtime.CompilerServices.Unsafe.SizeOf<T>() * 8 - BucketBits;

    private readonly T[] _starts;
    private readonly int[] _setIds;
    private readonly int[]? _bucketFirst;

    private RangeMap(T[] starts, int[] setIds)
    {
        _starts = starts;
        _setIds = setIds;
        if (starts.Length < IndexThreshold) return;
        _bucketFirst = new int[(1 << BucketBits) + 1];
        var i = 0;
        for (var b = 0; b <= 1 << BucketBits; b++)
        {
            while (i < starts.Length && Bucket(starts[i]) < b) i++;
            _bucketFirst[b] = i;
        }
    }

    private static int Bucket(T address) => int.CreateTruncating(address >>> Shift);

    public int RangeCount => _starts.Length;

    public long ApproximateBytes =>
        (long)_starts.Length * (System.Runtime.CompilerServices.Unsafe.SizeOf<T>() + sizeof(int)) + (long)(_bucketFirst?.Length ?? 0) * sizeof(int);

    /// <summary>The id of the group set that covers <paramref name="address"/>.</summary>
    public int Lookup(T address)
    {
        if (_bucketFirst is null)
        {
            var at = _starts.AsSpan().BinarySearch(address);
            return _setIds[at < 0 ? ~at - 1 : at]; // _starts[0] is zero, so ~at - 1 >= 0
        }
        var bucket = Bucket(address);
        var first = _bucketFirst[bucket];
        var index = _starts.AsSpan(first, _bucketFirst[bucket + 1] - first).BinarySearch(address);
        if (index < 0) index = ~index - 1;
        // index == -1: the address is before its bucket's first start, so the range that covers it began earlier.
        // _starts[0] is zero, so bucket 0 always holds a start <= address and first + index never goes below 0.
        return _setIds[first + index];
    }

    /// <summary>One labelled interval, inclusive at both ends.</summary>
    public readonly record struct Interval(T First, T Last, int Group);

    /// <summary>Sweeps the intervals' end points, interning each distinct set of covering groups.</summary>
    public static RangeMap<T> Build(List<Interval> intervals, GroupSetInterner sets)
    {
        // Positions and (group, delta) pairs in two arrays sorted together: the runtime sorts primitive keys with its
        // specialized introsort, where a comparison delegate over a struct array costs several times more for the
        // two million end points of a million-entry feed. Order among equal positions does not matter: each
        // position's events are applied together before the set is read.
        // An event is one int, the group shifted left by one and the low bit set for an opening: half the memory of a
        // (group, delta) pair, and the sort moves 4-byte items.
        var positions = new T[intervals.Count * 2];
        var events = new int[intervals.Count * 2];
        var count = 0;
        foreach (var interval in intervals)
        {
            positions[count] = interval.First;
            events[count++] = (interval.Group << 1) | 1;
            if (interval.Last != T.MaxValue)
            {
                positions[count] = interval.Last + T.One;
                events[count++] = interval.Group << 1;
            }
        }
        positions.AsSpan(0, count).Sort(events.AsSpan(0, count));
        var span = events.AsSpan(0, count);

        var coverCount = new int[sets.GroupCount];
        var current = new ulong[sets.Words];
        // At most one range a distinct position, plus the one at zero: sized once, trimmed once.
        var starts = new T[count + 1];
        var setIds = new int[count + 1];
        setIds[0] = sets.EmptySetId;
        var ranges = 1;
        var i = 0;
        while (i < span.Length)
        {
            var position = positions[i];
            for (; i < span.Length && positions[i] == position; i++)
            {
                var group = span[i] >> 1;
                var delta = (span[i] & 1) != 0 ? +1 : -1;
                var before = coverCount[group];
                coverCount[group] = before + delta;
                if (before == 0 && delta > 0) current[group >> 6] |= 1UL << group;
                else if (before + delta == 0) current[group >> 6] &= ~(1UL << group);
            }
            var id = sets.Intern(current);
            if (position == T.Zero) { setIds[0] = id; continue; }
            if (id == setIds[ranges - 1]) continue;
            starts[ranges] = position;
            setIds[ranges++] = id;
        }
        return new RangeMap<T>(starts[..ranges], setIds[..ranges]);
    }

}

/// <summary>Interns group bitsets so that equal sets share one id; id 0 is the empty set.</summary>
internal sealed class GroupSetInterner
{
    private readonly Dictionary<ulong[], int> _ids = new(BitsetComparer.Instance);
    private readonly List<ulong[]> _sets = [];

    public GroupSetInterner(int groupCount)
    {
        GroupCount = groupCount;
        Words = Math.Max(1, (groupCount + 63) >> 6);
        EmptySetId = Intern(new ulong[Words]);
    }

    public int GroupCount { get; }
    public int Words { get; }
    public int EmptySetId { get; }
    public IReadOnlyList<ulong[]> Sets => _sets;

    public int Intern(ulong[] bits)
    {
        if (_ids.TryGetValue(bits, out var id)) return id;
        var copy = (ulong[])bits.Clone();
        id = _sets.Count;
        _sets.Add(copy);
        _ids[copy] = id;
        return id;
    }

    private sealed class BitsetComparer : IEqualityComparer<ulong[]>
    {
        public static readonly BitsetComparer Instance = new();
        public bool Equals(ulong[]? x, ulong[]? y) => x.AsSpan().SequenceEqual(y);
        public int GetHashCode(ulong[] bits)
        {
            var hash = new HashCode();
            foreach (var w in bits) hash.Add(w);
            return hash.ToHashCode();
        }
    }
}

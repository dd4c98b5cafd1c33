using System.Numerics;

namespace Corral.Policy.Compilation;

/// <summary>
/// The address space of one family cut into disjoint ranges, each labelled with the id of the set of groups that
/// cover it. One binary search answers "which groups contain this address" for any number of overlapping CIDRs;
/// this is the flattened equivalent of walking a prefix trie and collecting every prefix on the path.
/// </summary>
internal sealed class RangeMap<T> where T : unmanaged, IBinaryInteger<T>, IUnsignedNumber<T>, IMinMaxValue<T>
{
    private readonly T[] _starts;
    private readonly int[] _setIds;

    private RangeMap(T[] starts, int[] setIds)
    {
        _starts = starts;
        _setIds = setIds;
    }

    public int RangeCount => _starts.Length;

    public long ApproximateBytes => (long)_starts.Length * (System.Runtime.CompilerServices.Unsafe.SizeOf<T>() + sizeof(int));

    /// <summary>The id of the group set that covers <paramref name="address"/>.</summary>
    public int Lookup(T address)
    {
        var index = _starts.AsSpan().BinarySearch(address);
        if (index < 0) index = ~index - 1;
        return _setIds[index];
    }

    /// <summary>One labelled interval, inclusive at both ends.</summary>
    public readonly record struct Interval(T First, T Last, int Group);

    /// <summary>Sweeps the intervals' end points, interning each distinct set of covering groups.</summary>
    public static RangeMap<T> Build(List<Interval> intervals, GroupSetInterner sets)
    {
        var events = new Event[intervals.Count * 2];
        var count = 0;
        foreach (var interval in intervals)
        {
            events[count++] = new Event(interval.First, interval.Group, +1);
            if (interval.Last != T.MaxValue) events[count++] = new Event(interval.Last + T.One, interval.Group, -1);
        }
        var span = events.AsSpan(0, count);
        span.Sort(static (a, b) => a.Position.CompareTo(b.Position));

        var coverCount = new int[sets.GroupCount];
        var current = new ulong[sets.Words];
        var starts = new List<T> { T.Zero };
        var setIds = new List<int> { sets.EmptySetId };
        var i = 0;
        while (i < span.Length)
        {
            var position = span[i].Position;
            for (; i < span.Length && span[i].Position == position; i++)
            {
                var e = span[i];
                var before = coverCount[e.Group];
                coverCount[e.Group] = before + e.Delta;
                if (before == 0 && e.Delta > 0) current[e.Group >> 6] |= 1UL << e.Group;
                else if (before + e.Delta == 0) current[e.Group >> 6] &= ~(1UL << e.Group);
            }
            var id = sets.Intern(current);
            if (position == T.Zero) { setIds[0] = id; continue; }
            if (id == setIds[^1]) continue;
            starts.Add(position);
            setIds.Add(id);
        }
        return new RangeMap<T>(starts.ToArray(), setIds.ToArray());
    }

    private readonly record struct Event(T Position, int Group, int Delta);
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

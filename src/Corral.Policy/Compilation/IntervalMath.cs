using Corral.Policy.Addressing;

namespace Corral.Policy.Compilation;

/// <summary>Set arithmetic on address ranges, used to build the built-in groups (complements and holes).</summary>
internal static class IntervalMath
{
    public readonly record struct Range(UInt128 First, UInt128 Last, bool IsV4);

    /// <summary>Every address of both families not covered by <paramref name="prefixes"/>.</summary>
    public static IEnumerable<Range> Complement(IEnumerable<IpPrefix> prefixes) =>
        Subtract([new Range(0, uint.MaxValue, true), new Range(0, UInt128.MaxValue, false)], prefixes.Select(ToRange));

    /// <summary>The addresses of <paramref name="prefixes"/> minus those of <paramref name="holes"/>.</summary>
    public static IEnumerable<Range> Subtract(IEnumerable<IpPrefix> prefixes, IEnumerable<IpPrefix> holes) =>
        Subtract(prefixes.Select(ToRange), holes.Select(ToRange));

    private static Range ToRange(IpPrefix p) => new(p.First, p.Last, p.IsV4);

    private static IEnumerable<Range> Subtract(IEnumerable<Range> ranges, IEnumerable<Range> holes)
    {
        var holeList = holes.ToList();
        foreach (var family in new[] { true, false })
        {
            var sortedHoles = Merge(holeList.Where(h => h.IsV4 == family));
            foreach (var range in Merge(ranges.Where(r => r.IsV4 == family)))
            {
                var start = range.First;
                var open = true;
                foreach (var hole in sortedHoles)
                {
                    if (hole.Last < start || hole.First > range.Last) continue;
                    if (hole.First > start) yield return new Range(start, hole.First - 1, family);
                    if (hole.Last >= range.Last) { open = false; break; }
                    start = hole.Last + 1;
                }
                if (open) yield return new Range(start, range.Last, family);
            }
        }
    }

    /// <summary>The ranges sorted by first address, overlapping and adjacent ones joined; give one address family at a time.</summary>
    public static List<Range> Merge(IEnumerable<Range> ranges)
    {
        var sorted = ranges.OrderBy(r => r.First).ToList();
        var merged = new List<Range>();
        foreach (var r in sorted)
        {
            if (merged.Count > 0 && (merged[^1].Last == UInt128.MaxValue || r.First <= merged[^1].Last + 1))
            {
                var last = merged[^1];
                if (r.Last > last.Last) merged[^1] = last with { Last = r.Last };
                continue;
            }
            merged.Add(r);
        }
        return merged;
    }
}

using System.Diagnostics;
using Corral.Policy.Compilation;

namespace Corral.Benchmarks;

/// <summary><c>micro</c>: rough Stopwatch timings of the decision's parts on the big policy, for profiling by hand.</summary>
internal static class Micro
{
    public static int Run()
    {
        var fixture = new BigPolicyFixture(4096);
        var doc = fixture.Policy.Document;
        var trie = new DomainTrie();
        for (var w = 0; w < doc.WebGroups.Count; w++)
            foreach (var d in doc.WebGroups[w].Domains)
                trie.Add(d.Value.Suffix, d.Value.IsWildcard ? DomainTrie.Slot.WebBelow : DomainTrie.Slot.WebExact, w);
        trie.Seal();
        var byKind = fixture.MixedByKind.ToDictionary(k => k.Kind, k => k.Flows);
        Span<ulong> a = stackalloc ulong[1], b = stackalloc ulong[1], c = stackalloc ulong[1];
        foreach (var kind in new[] { "exact", "wildcard", "unknown" })
        {
            var hosts = byKind[kind].Select(f => f.Host!).ToArray();
            var best = double.MaxValue;
            for (var pass = 0; pass < 40; pass++)
            {
                var t = Stopwatch.GetTimestamp();
                for (var rep = 0; rep < 5; rep++) foreach (var h in hosts) trie.Lookup(h, a, b, c);
                best = Math.Min(best, Stopwatch.GetElapsedTime(t).TotalNanoseconds / (5.0 * hosts.Length));
            }
            Console.WriteLine($"trie lookup {kind}: min {best:F0} ns (bits {a[0]})");
        }
        {
            var samples = BigPolicy.Ensure();
            var rnd = new Random(7);
            var hosts = Enumerable.Range(0, 50_000).Select(i => i % 2 == 0 ? samples.ExactNames[rnd.Next(samples.ExactNames.Length)]
                : "x" + i + "." + samples.WildcardSuffixes[rnd.Next(samples.WildcardSuffixes.Length)]).ToArray();
            var best = double.MaxValue;
            for (var pass = 0; pass < 20; pass++)
            {
                var t = Stopwatch.GetTimestamp();
                foreach (var h in hosts) trie.Lookup(h, a, b, c);
                best = Math.Min(best, Stopwatch.GetElapsedTime(t).TotalNanoseconds / hosts.Length);
            }
            Console.WriteLine($"trie lookup 50,000 distinct hosts: min {best:F0} ns");
            var addresses = Enumerable.Range(0, 50_000).Select(_ => BigPolicy.ToAddress((uint)rnd.NextInt64(1L << 32))).ToArray();
            best = double.MaxValue;
            var sum = 0;
            for (var pass = 0; pass < 20; pass++)
            {
                var t = Stopwatch.GetTimestamp();
                foreach (var ad in addresses) sum += fixture.Policy.LookupSet(ad);
                best = Math.Min(best, Stopwatch.GetElapsedTime(t).TotalNanoseconds / addresses.Length);
            }
            Console.WriteLine($"address lookup 50,000 random addresses: min {best:F0} ns ({sum})");
        }
        foreach (var kind in new[] { "public-ip", "exact" })
        {
            var flows = byKind[kind];
            var best = double.MaxValue;
            var sum = 0;
            for (var pass = 0; pass < 40; pass++)
            {
                var t = Stopwatch.GetTimestamp();
                for (var rep = 0; rep < 5; rep++) foreach (var f in flows) sum += fixture.Policy.LookupSet(f.Destinations[0]);
                best = Math.Min(best, Stopwatch.GetElapsedTime(t).TotalNanoseconds / (5.0 * flows.Length));
            }
            Console.WriteLine($"address lookup ({kind} flows): min {best:F0} ns ({sum})");
        }
        return 0;
    }
}

namespace Corral.Policy.Compilation;

/// <summary>
/// Host names stored by reversed labels (com → example → api), so a lookup walks the name's labels once from
/// the right instead of scanning patterns. Each node records which groups match the name exactly and which
/// match every name strictly below it; a lookup sets those groups' bits in caller-provided buffers, allocation-free.
/// </summary>
internal sealed class DomainTrie
{
    /// <summary>The kinds of membership a node can carry; each kind fills its own bitset on lookup.</summary>
    public enum Slot { WebExact, WebBelow, UrlExact, UrlBelow, ThreatSelfAndBelow }

    private readonly Node _root = new();

    public int NodeCount { get; private set; } = 1;

    /// <summary>Adds a membership for a normalized name (no wildcard prefix).</summary>
    public void Add(string name, Slot slot, int group)
    {
        var node = _root;
        var end = name.Length;
        while (end > 0)
        {
            var dot = name.LastIndexOf('.', end - 1);
            var label = name.Substring(dot + 1, end - dot - 1);
            node.Children ??= new Dictionary<string, Node>(StringComparer.Ordinal);
            if (!node.Children.TryGetValue(label, out var child))
            {
                child = new Node();
                node.Children[label] = child;
                NodeCount++;
            }
            node = child;
            end = dot < 0 ? 0 : dot;
        }
        node.Add(slot, group);
    }

    /// <summary>Freezes children for span lookups; call once after the last Add.</summary>
    public void Seal() => _root.Seal();

    /// <summary>
    /// Sets, for <paramref name="host"/>, the bits of the web groups it matches (domain entries, URL-filter hosts)
    /// and of the threat groups that list it or a parent of it.
    /// </summary>
    public void Lookup(ReadOnlySpan<char> host, Span<ulong> web, Span<ulong> urlHosts, Span<ulong> threat)
    {
        var node = _root;
        var end = host.Length;
        while (end > 0)
        {
            var dot = host[..end].LastIndexOf('.');
            var label = host[(dot + 1)..end];
            if (node.Lookup is not { } lookup || !lookup.TryGetValue(label, out var child)) return;
            node = child;
            var below = dot >= 0; // more labels remain: the host is strictly below this node's name
            if (node.Threat is { } t) Set(threat, t);
            if (below)
            {
                if (node.WebBelow is { } wb) Set(web, wb);
                if (node.UrlBelow is { } ub) Set(urlHosts, ub);
            }
            else
            {
                if (node.WebExact is { } we) Set(web, we);
                if (node.UrlExact is { } ue) Set(urlHosts, ue);
            }
            end = dot < 0 ? 0 : dot;
        }
    }

    private static void Set(Span<ulong> bits, int[] groups)
    {
        foreach (var g in groups) bits[g >> 6] |= 1UL << g;
    }

    private sealed class Node
    {
        public Dictionary<string, Node>? Children;
        public Dictionary<string, Node>.AlternateLookup<ReadOnlySpan<char>>? Lookup;
        public int[]? WebExact, WebBelow, UrlExact, UrlBelow, Threat;

        public void Add(Slot slot, int group)
        {
            ref var list = ref WebExact;
            switch (slot)
            {
                case Slot.WebBelow: list = ref WebBelow; break;
                case Slot.UrlExact: list = ref UrlExact; break;
                case Slot.UrlBelow: list = ref UrlBelow; break;
                case Slot.ThreatSelfAndBelow: list = ref Threat; break;
            }
            if (list is not null && Array.IndexOf(list, group) >= 0) return;
            list = list is null ? [group] : [.. list, group];
        }

        public void Seal()
        {
            if (Children is null) return;
            Lookup = Children.GetAlternateLookup<ReadOnlySpan<char>>();
            foreach (var child in Children.Values) child.Seal();
        }
    }
}

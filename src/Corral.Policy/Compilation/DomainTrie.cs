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
            // Looked up by span: a label's string is made only for a new child, not once per name that passes through.
            var label = name.AsSpan(dot + 1, end - dot - 1);
            node.Children ??= new Dictionary<string, Node>(StringComparer.Ordinal);
            var children = node.Children.GetAlternateLookup<ReadOnlySpan<char>>();
            if (!children.TryGetValue(label, out var child))
            {
                child = new Node();
                children[label] = child;
                NodeCount++;
            }
            node = child;
            end = dot < 0 ? 0 : dot;
        }
        if (!node.HasMemberships) _nodesWithMemberships++;
        node.Add(slot, group);
        if (slot == Slot.ThreatSelfAndBelow) _maxThreatGroup = Math.Max(_maxThreatGroup, group);
        else _maxWebGroup = Math.Max(_maxWebGroup, group);
    }

    /// <summary>
    /// Freezes the trie into its lookup form; call once after the last Add. The node objects and their per-node
    /// dictionaries are only a build structure: a lookup through them touches five or six objects per label (node,
    /// dictionary, buckets, entries, key string, group arrays), each a likely cache miss in a large policy. Sealing
    /// flattens every edge (parent node, label) into one open-addressing table whose slot index is the child's node
    /// id. Labels of up to 16 ASCII characters (nearly all DNS labels) are stored inside the edge, so a label costs one
    /// probe of one 32-byte entry; longer or non-ASCII labels are compared against a shared character pool. A node's
    /// memberships become group bitsets in one array, laid out so a node's five bitsets are adjacent.
    /// </summary>
    public void Seal()
    {
        var capacity = 8;
        while (capacity < NodeCount * 2) capacity <<= 1; // load factor <= 1/2: short linear-probe runs
        _table = new Edge[capacity];
        _mask = capacity - 1;
        _webWords = (_maxWebGroup >> 6) + 1;
        _threatWords = (_maxThreatGroup >> 6) + 1;
        _stride = 4 * _webWords + _threatWords;
        var pool = new System.Text.StringBuilder();
        _bits = new ulong[_nodesWithMemberships * _stride];
        var dataCount = 0;
        // Breadth-first, so a parent's slot (its node id) is known before its children are placed.
        var queue = new Queue<(Node Node, int Id)>();
        queue.Enqueue((_root, RootId));
        while (queue.Count > 0)
        {
            var (node, id) = queue.Dequeue();
            if (node.Children is null) continue;
            foreach (var (label, child) in node.Children)
            {
                var tag = id + ParentTagOffset;
                Edge edge;
                if (TryPack(label, out var l0, out var l1)) edge = new Edge(l0, l1, tag, -1, label.Length);
                else
                {
                    edge = new Edge((ulong)pool.Length, 0, tag, -1, -label.Length);
                    pool.Append(label);
                }
                if (child.HasMemberships)
                {
                    edge = edge with { Data = dataCount++ * _stride };
                    var row = _bits.AsSpan(edge.Data, _stride);
                    SetBits(row[.._webWords], child.WebExact);
                    SetBits(row.Slice(_webWords, _webWords), child.WebBelow);
                    SetBits(row.Slice(2 * _webWords, _webWords), child.UrlExact);
                    SetBits(row.Slice(3 * _webWords, _webWords), child.UrlBelow);
                    SetBits(row.Slice(4 * _webWords, _threatWords), child.Threat);
                }
                var slot = Hash(id, label) & _mask;
                while (_table[slot].ParentTag != 0) slot = (slot + 1) & _mask;
                _table[slot] = edge;
                queue.Enqueue((child, slot));
            }
            node.Children = null; // the dictionaries are not needed any more
        }
        _labels = pool.ToString();
    }

    /// <summary>
    /// Sets, for <paramref name="host"/>, the bits of the web groups it matches (domain entries, URL-filter hosts)
    /// and of the threat groups that list it or a parent of it.
    /// </summary>
    public void Lookup(ReadOnlySpan<char> host, Span<ulong> web, Span<ulong> urlHosts, Span<ulong> threat)
    {
        var node = RootId;
        var end = host.Length;
        while (end > 0)
        {
            var data = Step(host, ref end, ref node, out var below);
            if (data == NotFound) return;
            if (data < 0) continue;
            var row = _bits.AsSpan(data, _stride);
            Or(row.Slice(4 * _webWords, _threatWords), threat);
            if (below) // more labels remain: the host is strictly below this node's name
            {
                Or(row.Slice(_webWords, _webWords), web);
                Or(row.Slice(3 * _webWords, _webWords), urlHosts);
            }
            else
            {
                Or(row[.._webWords], web);
                Or(row.Slice(2 * _webWords, _webWords), urlHosts);
            }
        }
    }

    /// <summary>True when every group bitset is one word (at most 64 web and 64 threat groups): <see cref="LookupSingle"/> applies.</summary>
    public bool IsSingleWord => _webWords == 1 && _threatWords == 1;

    /// <summary><see cref="Lookup"/> for a single-word trie, into three words: no spans, no loops over words.</summary>
    public void LookupSingle(ReadOnlySpan<char> host, out ulong web, out ulong urlHosts, out ulong threat)
    {
        web = urlHosts = threat = 0;
        var node = RootId;
        var end = host.Length;
        var bits = _bits;
        while (end > 0)
        {
            var data = Step(host, ref end, ref node, out var below);
            if (data == NotFound) return;
            if (data < 0) continue;
            // Row layout with one word each: exact, below, url exact, url below, threat.
            threat |= bits[data + 4];
            var offset = below ? 1 : 0;
            web |= bits[data + offset];
            urlHosts |= bits[data + 2 + offset];
        }
    }

    private const int NotFound = int.MinValue;

    /// <summary>
    /// Consumes the label that ends at <paramref name="end"/> (walking right to left, one pass over its characters,
    /// packing them as it goes), moves <paramref name="node"/> to that child and <paramref name="end"/> to the dot
    /// before the label (0 at the first label); <paramref name="below"/> says whether a dot was found, i.e. whether
    /// the host is strictly below the child's name. Returns the child's data offset (-1 when it has none), or NotFound.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private int Step(ReadOnlySpan<char> host, ref int end, ref int node, out bool below)
    {
        // Characters c0..c(n-1) of the label, read from the right: l1:l0 = (l1:l0 << 8) | c leaves ci in byte i,
        // which is TryPack's layout. A label over 16 characters or with a non-ASCII one takes the pooled path.
        ulong l0 = 0, l1 = 0;
        below = false;
        var i = end - 1;
        var packable = true;
        for (; i >= 0; i--)
        {
            var c = host[i];
            if (c == '.') break;
            if (c > 0x7F || end - i > 16) { packable = false; continue; }
            l1 = (l1 << 8) | (l0 >> 56);
            l0 = (l0 << 8) | c;
        }
        var length = end - i - 1;
        int slot;
        if (packable)
        {
            var tag = node + ParentTagOffset;
            var table = _table;
            slot = HashCode.Combine(node, l0, l1) & _mask; // = Hash(node, label)
            while (true)
            {
                ref readonly var edge = ref table[slot];
                if (edge.ParentTag == 0) return NotFound; // an empty slot ends the probe run: no such child
                if (edge.L0 == l0 && edge.L1 == l1 && edge.ParentTag == tag && edge.LabelLength == length) break;
                slot = (slot + 1) & _mask;
            }
        }
        else
        {
            var label = host.Slice(i + 1, length);
            slot = FindPooled(_table, node + ParentTagOffset, Hash(node, label) & _mask, label);
            if (slot < 0) return NotFound;
        }
        node = slot;
        below = i >= 0;
        end = i < 0 ? 0 : i;
        return _table[slot].Data;
    }

    private int FindPooled(Edge[] table, int tag, int slot, ReadOnlySpan<char> label)
    {
        while (true)
        {
            ref readonly var edge = ref table[slot];
            if (edge.ParentTag == 0) return -1;
            if (edge.ParentTag == tag && edge.LabelLength == -label.Length &&
                _labels.AsSpan((int)edge.L0, label.Length).SequenceEqual(label))
                return slot;
            slot = (slot + 1) & _mask;
        }
    }

    /// <summary>Packs a label of at most 16 ASCII characters into two words, one byte a character.</summary>
    private static bool TryPack(ReadOnlySpan<char> label, out ulong l0, out ulong l1)
    {
        l0 = l1 = 0;
        if (label.Length > 16) return false;
        for (var i = 0; i < label.Length; i++)
        {
            var c = label[i];
            if (c > 0x7F) return false;
            if (i < 8) l0 |= (ulong)c << (8 * i);
            else l1 |= (ulong)c << (8 * (i - 8));
        }
        return true;
    }

    private static void Or(ReadOnlySpan<ulong> from, Span<ulong> into)
    {
        for (var i = 0; i < from.Length; i++) into[i] |= from[i];
    }

    private static void SetBits(Span<ulong> bits, int[]? groups)
    {
        if (groups is null) return;
        foreach (var g in groups) bits[g >> 6] |= 1UL << g;
    }

    private const int RootId = -1, ParentTagOffset = 2; // ParentTag 0 marks an empty slot; the root's children carry 1

    private Edge[] _table = [];
    private int _mask, _webWords = 1, _threatWords = 1, _stride, _maxWebGroup, _maxThreatGroup, _nodesWithMemberships;
    private string _labels = "";
    private ulong[] _bits = [];

    /// <summary>Bytes held by the sealed lookup form, roughly.</summary>
    public long ApproximateBytes =>
        (long)_table.Length * System.Runtime.CompilerServices.Unsafe.SizeOf<Edge>() + _labels.Length * 2L + _bits.Length * 8L;

    // Seeded per process (HashCode, string.GetHashCode), so a crafted host name cannot aim at a known probe run.
    private static int Hash(int parent, ReadOnlySpan<char> label) =>
        TryPack(label, out var l0, out var l1)
            ? HashCode.Combine(parent, l0, l1)
            : HashCode.Combine(parent, string.GetHashCode(label));

    /// <summary>
    /// One edge of the trie: the child of node <c>ParentTag - 2</c> whose label is packed in L0/L1 (LabelLength &gt; 0)
    /// or is in the pool at offset L0 (LabelLength = -length). The edge's slot is the child's node id; Data is the
    /// offset of its membership bitsets in _bits, or -1.
    /// </summary>
    private readonly record struct Edge(ulong L0, ulong L1, int ParentTag, int Data, int LabelLength);

    private sealed class Node
    {
        public Dictionary<string, Node>? Children;
        public int[]? WebExact, WebBelow, UrlExact, UrlBelow, Threat;

        public bool HasMemberships => WebExact is not null || WebBelow is not null || UrlExact is not null || UrlBelow is not null || Threat is not null;

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
    }
}

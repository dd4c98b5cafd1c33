using System.Net;
using System.Numerics;
using Corral.Policy.Addressing;
using Corral.Policy.Model;

namespace Corral.Policy.Compilation;

/// <summary>
/// An immutable, compiled policy: the one decision function every consumer calls. Build it with
/// <see cref="Compile"/> off the hot path and swap the reference atomically; it is safe to share across threads.
/// </summary>
public sealed partial class CompiledPolicy
{
    // Address-group ids: three fixed ones, then smart groups, then threat groups.
    internal const int AnywhereGroup = 0, PublicInternetGroup = 1, GuardedGroup = 2, HardGuardedGroup = 3, FirstUserGroup = 4;

    private readonly RangeMap<uint> _v4;
    private readonly RangeMap<UInt128> _v6;
    private readonly DomainTrie _names;
    private readonly int _ruleWords, _webWords, _threatWords;
    private readonly ulong[] _sourceRules, _destinationRules, _explicitRules; // [set * _ruleWords + w]
    private readonly bool[] _guardedSets, _hardGuardedSets;
    private readonly int _unknownPublicSet;
    private readonly ulong[] _rulesByWebGroup, _rulesByThreatDomain; // [group * _ruleWords + w]
    private readonly ulong[] _rulesWithoutWebGroups;
    private readonly UrlPattern[][] _urlFiltersByWebGroup;
    private readonly GroupSetInterner _sets;
    private readonly CompiledRule[] _rules; // Rules as an array: no interface dispatch on the hot path
    private readonly bool _singleWord; // every bitset is one word: Decide takes DecideSingleWord
    private readonly RuleAction _defaultAction;

    public PolicyDocument Document { get; }
    public CompileOptions Options { get; }

    /// <summary>Rules in evaluation order (ascending priority).</summary>
    public IReadOnlyList<CompiledRule> Rules { get; }

    /// <summary>SHA-256 of the policy file and every file it read.</summary>
    public string Hash => Document.ContentHash;

    internal IReadOnlyList<string> AddressGroupNames { get; }

    public CompiledRule? FindRule(string name)
    {
        foreach (var rule in Rules) if (rule.Name == name) return rule;
        return null;
    }

    /// <summary>Compiles a loaded policy. Compilation cannot fail for a document that loaded without errors.</summary>
    public static CompiledPolicy Compile(PolicyDocument document, CompileOptions? options = null) =>
        new(document, options ?? CompileOptions.Default);

    private CompiledPolicy(PolicyDocument document, CompileOptions options)
    {
        Document = document;
        Options = options;

        // ---- group numbering ----
        var groupNames = new List<string> { PolicyDocument.Anywhere, PolicyDocument.PublicInternet, "(internal or platform address)", "(never reachable by name)" };
        var addressGroupIds = new Dictionary<string, int>(StringComparer.Ordinal)
        {
            [PolicyDocument.Anywhere] = AnywhereGroup,
            [PolicyDocument.PublicInternet] = PublicInternetGroup,
        };
        foreach (var g in document.SmartGroups) { addressGroupIds[g.Name] = groupNames.Count; groupNames.Add(g.Name); }
        var threatIds = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < document.ThreatGroups.Count; i++)
        {
            var t = document.ThreatGroups[i];
            threatIds[t.Name] = i;
            addressGroupIds[t.Name] = groupNames.Count;
            groupNames.Add(t.Name);
        }
        AddressGroupNames = groupNames;
        var webIds = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < document.WebGroups.Count; i++) webIds[document.WebGroups[i].Name] = i;

        // ---- rules in priority order ----
        var ordered = document.Rules.OrderBy(r => r.Priority).ToArray();
        var rules = new CompiledRule[ordered.Length];
        for (var i = 0; i < ordered.Length; i++)
        {
            var r = ordered[i];
            rules[i] = new CompiledRule(r, i,
                r.Source.Select(s => addressGroupIds[s.Value]).Distinct().ToArray(),
                r.Destination.Select(d => addressGroupIds[d.Value]).Distinct().ToArray(),
                r.WebGroups.Select(w => webIds[w.Value]).Distinct().ToArray());
        }
        Rules = rules;
        _rules = rules;
        _ruleWords = Math.Max(1, (rules.Length + 63) >> 6);
        _webWords = Math.Max(1, (document.WebGroups.Count + 63) >> 6);
        _threatWords = Math.Max(1, (document.ThreatGroups.Count + 63) >> 6);

        // ---- address ranges ----
        _sets = new GroupSetInterner(groupNames.Count);
        var v4 = new List<RangeMap<uint>.Interval>();
        var v6 = new List<RangeMap<UInt128>.Interval>();
        void AddPrefix(IpPrefix p, int group)
        {
            if (p.IsV4) v4.Add(new((uint)p.First, (uint)p.Last, group));
            else v6.Add(new(p.First, p.Last, group));
        }
        v4.Add(new(0, uint.MaxValue, AnywhereGroup));
        v6.Add(new(UInt128.Zero, UInt128.MaxValue, AnywhereGroup));
        foreach (var p in IntervalMath.Complement(AddressClasses.NotPublic)) AddPrefixRange(p, PublicInternetGroup);
        foreach (var p in options.PublicStandIns) AddPrefix(p, PublicInternetGroup);
        var guarded = AddressClasses.NotPublic.Concat(AddressClasses.GuardedBeyondNotPublic).Concat(options.ExtraGuarded);
        foreach (var p in IntervalMath.Subtract(guarded, options.PublicStandIns)) AddPrefixRange(p, GuardedGroup);
        var hard = IntervalMath.Subtract(guarded, options.PublicStandIns.Concat(AddressClasses.OpenableByExplicitGroup));
        foreach (var p in hard) AddPrefixRange(p, HardGuardedGroup);
        foreach (var g in document.SmartGroups)
            foreach (var p in g.AllPrefixes) AddPrefix(p, addressGroupIds[g.Name]);
        foreach (var t in document.ThreatGroups)
            foreach (var p in t.AllPrefixes) AddPrefix(p, addressGroupIds[t.Name]);
        _v4 = RangeMap<uint>.Build(v4, _sets);
        _v6 = RangeMap<UInt128>.Build(v6, _sets);

        void AddPrefixRange(IntervalMath.Range r, int group)
        {
            if (r.IsV4) v4.Add(new((uint)r.First, (uint)r.Last, group));
            else v6.Add(new(r.First, r.Last, group));
        }

        // ---- per-set rule masks ----
        var unknownPublic = new ulong[_sets.Words];
        unknownPublic[0] |= (1UL << AnywhereGroup) | (1UL << PublicInternetGroup);
        _unknownPublicSet = _sets.Intern(unknownPublic);
        var setCount = _sets.Sets.Count;
        _sourceRules = new ulong[setCount * _ruleWords];
        _destinationRules = new ulong[setCount * _ruleWords];
        _explicitRules = new ulong[setCount * _ruleWords];
        _guardedSets = new bool[setCount];
        _hardGuardedSets = new bool[setCount];
        for (var s = 0; s < setCount; s++)
        {
            var members = _sets.Sets[s];
            _guardedSets[s] = Has(members, GuardedGroup);
            _hardGuardedSets[s] = Has(members, HardGuardedGroup);
            foreach (var rule in rules)
            {
                if (rule.SourceGroups.Length == 0 || rule.SourceGroups.Any(g => Has(members, g)))
                    SetBit(_sourceRules, s, rule.Index);
                if (rule.DestinationGroups.Length == 0 || rule.DestinationGroups.Any(g => Has(members, g)))
                    SetBit(_destinationRules, s, rule.Index);
                if (rule.DestinationGroups.Any(g => g >= FirstUserGroup && Has(members, g)))
                    SetBit(_explicitRules, s, rule.Index);
            }
        }

        // ---- names ----
        _names = new DomainTrie();
        for (var w = 0; w < document.WebGroups.Count; w++)
        {
            foreach (var d in document.WebGroups[w].Domains)
                _names.Add(d.Value.Suffix, d.Value.IsWildcard ? DomainTrie.Slot.WebBelow : DomainTrie.Slot.WebExact, w);
            foreach (var u in document.WebGroups[w].Urls)
                _names.Add(u.Value.Host.Suffix, u.Value.Host.IsWildcard ? DomainTrie.Slot.UrlBelow : DomainTrie.Slot.UrlExact, w);
        }
        for (var t = 0; t < document.ThreatGroups.Count; t++)
            foreach (var domain in document.ThreatGroups[t].AllDomains)
                _names.Add(domain, DomainTrie.Slot.ThreatSelfAndBelow, t);
        _names.Seal();
        _urlFiltersByWebGroup = document.WebGroups.Select(w => w.Urls.Select(u => u.Value).ToArray()).ToArray();

        _rulesByWebGroup = new ulong[Math.Max(1, document.WebGroups.Count) * _ruleWords];
        _rulesByThreatDomain = new ulong[Math.Max(1, document.ThreatGroups.Count) * _ruleWords];
        _rulesWithoutWebGroups = new ulong[_ruleWords];
        foreach (var rule in rules)
        {
            if (!rule.HasWebGroups) _rulesWithoutWebGroups[rule.Index >> 6] |= 1UL << rule.Index;
            foreach (var w in rule.WebGroups) SetBit(_rulesByWebGroup, w, rule.Index);
            foreach (var d in rule.Source.Destination)
                if (threatIds.TryGetValue(d.Value, out var t)) SetBit(_rulesByThreatDomain, t, rule.Index);
        }
        _singleWord = _ruleWords == 1 && _webWords == 1 && _threatWords == 1 && _names.IsSingleWord;
        _defaultAction = document.DefaultAction;
    }

    /// <summary>
    /// This policy with one rule's mode changed, without compiling again: a mode changes only what a match of that
    /// rule puts in its verdict, so every lookup table is shared and only the rule list is new. The result equals
    /// (hash, rules, verdicts) what compiling <paramref name="editedText"/> gives; the tests hold it to that.
    /// Returns null when <paramref name="baseText"/> is not the text this policy was compiled from (the file moved
    /// on), or the rule does not exist: then compile the edited text instead.
    /// </summary>
    /// <param name="baseText">The policy file's bytes this policy was compiled from.</param>
    /// <param name="editedText">The same bytes with the rule's mode set (<see cref="Loading.PolicyEditor.SetRuleMode"/>).</param>
    public CompiledPolicy? WithRuleMode(string ruleName, RuleMode mode, ReadOnlySpan<byte> baseText, ReadOnlySpan<byte> editedText)
    {
        if (PolicyDocument.ContentHashOf(baseText, Document.InputsDigest) != Hash) return null;
        var at = Array.FindIndex(_rules, r => r.Name == ruleName);
        if (at < 0) return null;
        var old = _rules[at];
        // The edited text has moved what follows the edit, so no rule of the derived policy keeps a mode site; the full
        // compile of that text, which follows every derivation, brings exact ones.
        var derived = new Dictionary<Rule, Rule>(ReferenceEqualityComparer.Instance);
        foreach (var r in Document.Rules) derived[r] = ReferenceEquals(r, old.Source) ? r with { Mode = mode, ModeSite = null } : r with { ModeSite = null };
        var rules = _rules.Select(r => new CompiledRule(derived[r.Source], r.Index, r.SourceGroups, r.DestinationGroups, r.WebGroups)).ToArray();
        var documentRules = Document.Rules.Select(r => derived[r]).ToArray();
        var document = Document with { Rules = documentRules, ContentHash = PolicyDocument.ContentHashOf(editedText, Document.InputsDigest) };
        return new CompiledPolicy(this, document, rules);
    }

    // Shares every lookup table of basis; only the document and the rules are new (see WithRuleMode).
    private CompiledPolicy(CompiledPolicy basis, PolicyDocument document, CompiledRule[] rules)
    {
        Document = document;
        Options = basis.Options;
        Rules = rules;
        _rules = rules;
        AddressGroupNames = basis.AddressGroupNames;
        _v4 = basis._v4;
        _v6 = basis._v6;
        _names = basis._names;
        _ruleWords = basis._ruleWords;
        _webWords = basis._webWords;
        _threatWords = basis._threatWords;
        _sourceRules = basis._sourceRules;
        _destinationRules = basis._destinationRules;
        _explicitRules = basis._explicitRules;
        _guardedSets = basis._guardedSets;
        _hardGuardedSets = basis._hardGuardedSets;
        _unknownPublicSet = basis._unknownPublicSet;
        _rulesByWebGroup = basis._rulesByWebGroup;
        _rulesByThreatDomain = basis._rulesByThreatDomain;
        _rulesWithoutWebGroups = basis._rulesWithoutWebGroups;
        _urlFiltersByWebGroup = basis._urlFiltersByWebGroup;
        _sets = basis._sets;
        _singleWord = basis._singleWord;
        _defaultAction = basis._defaultAction;
    }

    private void SetBit(ulong[] table, int row, int bit) => table[row * _ruleWords + (bit >> 6)] |= 1UL << bit;

    private static bool Has(ulong[] bits, int group) => (bits[group >> 6] & (1UL << group)) != 0;

    /// <summary>Memory held by the lookup structures, roughly, for benchmarks and metrics.</summary>
    public long ApproximateLookupBytes => _v4.ApproximateBytes + _v6.ApproximateBytes;

    internal int LookupSet(IPAddress address)
    {
        if (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)
        {
            // The common case without the UInt128 round trip of IpBits.From. IPAddress.Address is obsolete because
            // it cannot hold IPv6, which this branch excludes; it reads the stored value, where TryWriteBytes copies.
#pragma warning disable CS0618
            return _v4.Lookup((uint)IPAddress.NetworkToHostOrder((int)address.Address));
#pragma warning restore CS0618
        }
        var (bits, isV4) = IpBits.From(address);
        return isV4 ? _v4.Lookup((uint)bits) : _v6.Lookup(bits);
    }

    // ---------------------------------------------------------------------------------------------------------
    // The decision function.
    // ---------------------------------------------------------------------------------------------------------

    /// <summary>
    /// Decides a flow: the first rule, by ascending priority, whose every condition holds; else the default action.
    /// With several candidate addresses each is decided and the first that is permitted is chosen
    /// (<see cref="Verdict.AddressIndex"/>), so the caller dials only an address that passed.
    /// Allocation-free.
    /// </summary>
    public Verdict Decide(in Flow flow) => _singleWord ? DecideSingleWord(flow) : Evaluate(flow, null);

    /// <summary>
    /// <see cref="Evaluate"/> without a trace for policies whose rule, web-group and threat-group bitsets are each one
    /// word (up to 64 rules and groups: the Foundry pack and most real policies): the same masks and the same rule
    /// checks, held in registers instead of stack spans. verdict-dump and the tests compare it with the general path.
    /// </summary>
    private Verdict DecideSingleWord(in Flow flow)
    {
        if (flow.Host is { } name && !IsNormalized(name))
            return new Verdict(RuleAction.Deny, null, true, false, DecisionReason.HostNotNormalized, -1, false, null);
        var destinations = flow.Destinations;
        var count = destinations.Count;
        if (count == 0 && !flow.AssumePublicIfUnresolved)
            return new Verdict(RuleAction.Deny, null, true, false, DecisionReason.NoDestinationAddress, -1, false, null);

        var nameRules = _rulesWithoutWebGroups[0];   // web-group condition holds
        ulong domainOnlyRules = 0, threatNameRules = 0; // ... through a domain entry / destination holds through a threat-listed name
        if (flow.Host is { } host)
        {
            _names.LookupSingle(host, out var web, out var urlHosts, out var threat);
            var byWebGroup = _rulesByWebGroup;
            for (var domainOnly = web & ~urlHosts; domainOnly != 0; domainOnly &= domainOnly - 1)
                domainOnlyRules |= byWebGroup[BitOperations.TrailingZeroCount(domainOnly)];
            nameRules |= domainOnlyRules;
            for (; urlHosts != 0; urlHosts &= urlHosts - 1)
            {
                var g = BitOperations.TrailingZeroCount(urlHosts);
                // At connection level the host admits the rule; with a path, a URL filter must match it.
                if (flow.Path is null || UrlFilterMatches(g, host, flow.Path)) nameRules |= byWebGroup[g];
            }
            for (; threat != 0; threat &= threat - 1)
                threatNameRules |= _rulesByThreatDomain[BitOperations.TrailingZeroCount(threat)];
        }
        var source = _sourceRules[LookupSet(flow.Source)];
        if (count == 0)
            return DecideSingleWordForAddress(flow, source, nameRules, domainOnlyRules, threatNameRules, _unknownPublicSet, -1);

        Verdict best = default;
        var haveBest = false;
        for (var i = 0; i < count; i++)
        {
            var verdict = DecideSingleWordForAddress(flow, source, nameRules, domainOnlyRules, threatNameRules, LookupSet(destinations[i]), i);
            if (verdict.Action == RuleAction.Permit) return verdict;
            if (!haveBest || (verdict.LetsThrough && !best.LetsThrough)) { best = verdict; haveBest = true; }
        }
        return best;
    }

    private Verdict DecideSingleWordForAddress(in Flow flow, ulong source, ulong nameRules, ulong domainOnlyRules, ulong threatNameRules,
        int set, int addressIndex)
    {
        CompiledRule? guardSkipped = null;
        var rules = _rules;
        for (var candidates = source & (_destinationRules[set] | threatNameRules) & nameRules; candidates != 0; candidates &= candidates - 1)
        {
            var index = BitOperations.TrailingZeroCount(candidates);
            if ((uint)index >= (uint)rules.Length) break;
            var rule = rules[index];
            if (rule.CheckTransport(flow) != RuleCheck.Ok) continue;
            // The internal-address guard, as in DecideForAddress.
            if (rule.PermitsByName && _guardedSets[set] && (_hardGuardedSets[set] || (_explicitRules[set] & (1UL << index)) == 0))
            {
                guardSkipped ??= rule;
                continue;
            }
            var pending = flow.Path is null && rule.PermitsByName && (domainOnlyRules & (1UL << index)) == 0;
            return new Verdict(rule.Action, rule, rule.MatchedEnforced, rule.MatchedDecrypt, rule.MatchedReason, addressIndex, pending, guardSkipped);
        }
        return new Verdict(_defaultAction, null, true, false, DecisionReason.DefaultAction, addressIndex, false, guardSkipped);
    }

    internal Verdict Evaluate(in Flow flow, DecisionTrace? trace)
    {
        // Fail closed on facts the caller should never hand over: an unnormalized name could miss a threat-listed
        // domain, and "no address" is only meaningful to explain.
        if (flow.Host is { } name && !IsNormalized(name))
            return new Verdict(RuleAction.Deny, null, true, false, DecisionReason.HostNotNormalized, -1, false, null);
        if (flow.Destinations.Count == 0 && !flow.AssumePublicIfUnresolved)
            return new Verdict(RuleAction.Deny, null, true, false, DecisionReason.NoDestinationAddress, -1, false, null);

        // One stack buffer for all six bitsets (stackalloc zero-fills it): one stack probe and one clear, not six.
        Span<ulong> scratch = stackalloc ulong[2 * _webWords + _threatWords + 3 * _ruleWords];
        var web = scratch[.._webWords];
        var urlHosts = scratch.Slice(_webWords, _webWords);
        var threat = scratch.Slice(2 * _webWords, _threatWords);
        var rulesAt = 2 * _webWords + _threatWords;
        var nameRules = scratch.Slice(rulesAt, _ruleWords);                        // web-group condition holds
        var domainOnlyRules = scratch.Slice(rulesAt + _ruleWords, _ruleWords);     // ... through a domain entry, no URL filter for this host
        var threatNameRules = scratch.Slice(rulesAt + 2 * _ruleWords, _ruleWords); // destination holds through a threat-listed name

        _rulesWithoutWebGroups.CopyTo(nameRules);
        if (flow.Host is { } host)
        {
            _names.Lookup(host, web, urlHosts, threat);
            trace?.Names(web, urlHosts, threat);
            for (var w = 0; w < _webWords; w++)
            {
                var domainOnly = web[w] & ~urlHosts[w];
                OrGroupRules(domainOnly, w, _rulesByWebGroup, domainOnlyRules);
                OrGroupRules(domainOnly, w, _rulesByWebGroup, nameRules);
                var filtered = urlHosts[w];
                while (filtered != 0)
                {
                    var g = (w << 6) + BitOperations.TrailingZeroCount(filtered);
                    filtered &= filtered - 1;
                    // At connection level the host admits the rule; with a path, a URL filter must match it.
                    if (flow.Path is null || UrlFilterMatches(g, host, flow.Path))
                        Or(_rulesByWebGroup.AsSpan(g * _ruleWords, _ruleWords), nameRules);
                }
            }
            for (var w = 0; w < _threatWords; w++) OrGroupRules(threat[w], w, _rulesByThreatDomain, threatNameRules);
        }
        var source = _sourceRules.AsSpan(LookupSet(flow.Source) * _ruleWords, _ruleWords);

        var count = flow.Destinations.Count;
        if (count == 0)
            return DecideForAddress(flow, source, nameRules, domainOnlyRules, threatNameRules, _unknownPublicSet, -1, trace);

        Verdict best = default;
        var haveBest = false;
        for (var i = 0; i < count; i++)
        {
            var verdict = DecideForAddress(flow, source, nameRules, domainOnlyRules, threatNameRules, LookupSet(flow.Destinations[i]), i, trace);
            if (verdict.Action == RuleAction.Permit) return verdict;
            if (!haveBest || (verdict.LetsThrough && !best.LetsThrough)) { best = verdict; haveBest = true; }
        }
        return best;
    }

    private Verdict DecideForAddress(in Flow flow, ReadOnlySpan<ulong> source, ReadOnlySpan<ulong> nameRules, ReadOnlySpan<ulong> domainOnlyRules,
        ReadOnlySpan<ulong> threatNameRules, int set, int addressIndex, DecisionTrace? trace)
    {
        var destination = _destinationRules.AsSpan(set * _ruleWords, _ruleWords);
        var explicitRules = _explicitRules.AsSpan(set * _ruleWords, _ruleWords);
        var guarded = _guardedSets[set];
        var hardGuarded = _hardGuardedSets[set];
        CompiledRule? guardSkipped = null;
        trace?.BeginAddress(addressIndex, set);

        for (var w = 0; w < _ruleWords; w++)
        {
            var candidates = trace is null
                ? source[w] & (destination[w] | threatNameRules[w]) & nameRules[w]
                : ulong.MaxValue; // explain reports every rule, using the same masks below
            while (candidates != 0)
            {
                var index = (w << 6) + BitOperations.TrailingZeroCount(candidates);
                candidates &= candidates - 1;
                if (index >= _rules.Length) break;
                var rule = _rules[index];
                var bit = 1UL << index;
                var check =
                    (source[w] & bit) == 0 ? RuleCheck.Source :
                    ((destination[w] | threatNameRules[w]) & bit) == 0 ? RuleCheck.Destination :
                    (nameRules[w] & bit) == 0 ? RuleCheck.WebGroup :
                    rule.CheckTransport(flow);
                // The internal-address guard: a name-based permit never authorizes an internal or platform address.
                // Private, CGNAT and ULA addresses may be opened by the rule's own smart groups naming them; loopback,
                // link-local/metadata, platform and embedded forms never.
                if (check == RuleCheck.Ok && guarded && rule.Action == RuleAction.Permit && rule.HasWebGroups && (hardGuarded || (explicitRules[w] & bit) == 0))
                {
                    check = RuleCheck.Guard;
                    guardSkipped ??= rule;
                }
                trace?.Rule(rule, check);
                if (check != RuleCheck.Ok) continue;

                var watched = rule.Mode == RuleMode.Watch;
                var pending = flow.Path is null && rule.HasWebGroups && (domainOnlyRules[w] & bit) == 0;
                var verdict = new Verdict(rule.Action, rule, Enforced: !watched,
                    Decrypt: !watched && rule.Action == RuleAction.Permit && rule.Decrypt == DecryptPolicy.Allowed,
                    watched ? DecisionReason.WatchedRuleMatched : DecisionReason.RuleMatched, addressIndex, pending && rule.Action == RuleAction.Permit, guardSkipped);
                trace?.Decided(verdict);
                return verdict;
            }
        }
        var fallback = new Verdict(Document.DefaultAction, null, true, false, DecisionReason.DefaultAction, addressIndex, false, guardSkipped);
        trace?.Decided(fallback);
        return fallback;
    }

    private static readonly System.Buffers.SearchValues<char> NormalizedNameChars =
        System.Buffers.SearchValues.Create("abcdefghijklmnopqrstuvwxyz0123456789-_.");

    // Vectorized: a few nanoseconds on the hot path.
    private static bool IsNormalized(string host) =>
        host.Length is > 0 and <= HostName.MaxLength && host[^1] != '.' && host[0] != '.' &&
        !host.AsSpan().ContainsAnyExcept(NormalizedNameChars);

    private bool UrlFilterMatches(int webGroup, string host, string path)
    {
        foreach (var filter in _urlFiltersByWebGroup[webGroup])
            if (filter.Host.Matches(host) && UrlPath.GlobMatches(filter.PathGlob, path)) return true;
        return false;
    }

    private void OrGroupRules(ulong groups, int word, ulong[] table, Span<ulong> into)
    {
        while (groups != 0)
        {
            var g = (word << 6) + BitOperations.TrailingZeroCount(groups);
            groups &= groups - 1;
            Or(table.AsSpan(g * _ruleWords, _ruleWords), into);
        }
    }

    private static void Or(ReadOnlySpan<ulong> from, Span<ulong> into)
    {
        for (var i = 0; i < from.Length; i++) into[i] |= from[i];
    }

    internal ulong[] MembersOfSet(int set) => _sets.Sets[set];
    internal bool IsGuardedSet(int set) => _guardedSets[set];
    internal int UnknownPublicSet => _unknownPublicSet;
}

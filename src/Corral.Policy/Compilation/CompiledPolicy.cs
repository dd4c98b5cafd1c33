using System.Net;
using System.Numerics;
using Corral.Policy.Addressing;
using Corral.Policy.Inspection;
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
    private readonly bool _singleWord; // every bitset is one word: the name lookup fills one word per kind
    private readonly ulong[] _rulesForSomeAddress, _rulesForEveryAddress; // destination masks for an address not known yet
    private readonly RuleAction _defaultAction;
    private readonly Dictionary<string, int> _agentIds;
    private readonly ulong[] _agentRules; // [agent * _ruleWords + w]: the rules naming the agent as a source

    public PolicyDocument Document { get; }
    public CompileOptions Options { get; }

    /// <summary>
    /// The payload patterns of this policy, compiled: every request of a flow decided on this snapshot is inspected
    /// with it, whatever is in force by then. Shared with the policy compiled before when the patterns are the same
    /// (<see cref="CompileOptions.Inspectors"/>).
    /// </summary>
    public PayloadInspector Inspector { get; }

    /// <summary>What this policy answers about names: the resolver's sources and verdicts, and the address-only rules.</summary>
    public NamePolicy Names { get; }

    /// <summary>Rules in evaluation order (ascending priority).</summary>
    public IReadOnlyList<CompiledRule> Rules { get; }

    /// <summary>The credentials the gateway puts into decrypted requests for the agents' placeholders.</summary>
    public CompiledCredentials Credentials { get; }

    /// <summary>The agents that authenticate to the explicit listener, and the one function that identifies them.</summary>
    public CompiledAgents Agents { get; }

    /// <summary>SHA-256 of the policy file and every file it read.</summary>
    public string Hash => Document.ContentHash;

    /// <summary>
    /// Made from another compiled policy by changing one rule's mode rather than by compiling: hash, rules and verdicts
    /// are exact, but source locations are those of the text before the edit (a reload's full compile follows).
    /// </summary>
    public bool IsDerived { get; }

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
        Credentials = document.Credentials.Count == 0 ? CompiledCredentials.None : new CompiledCredentials(document.Credentials, document.WebGroups);
        Agents = document.Agents.Count == 0 ? CompiledAgents.None : new CompiledAgents(document.Agents);
        _agentIds = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < document.Agents.Count; i++) _agentIds[document.Agents[i].Name] = i;

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
                r.Source.Where(s => !_agentIds.ContainsKey(s.Value)).Select(s => addressGroupIds[s.Value]).Distinct().ToArray(),
                r.Destination.Select(d => addressGroupIds[d.Value]).Distinct().ToArray(),
                r.WebGroups.Select(w => webIds[w.Value]).Distinct().ToArray(), document);
        }
        Rules = rules;
        _rules = rules;
        _ruleWords = Math.Max(1, (rules.Length + 63) >> 6);
        _webWords = Math.Max(1, (document.WebGroups.Count + 63) >> 6);
        _threatWords = Math.Max(1, (document.ThreatGroups.Count + 63) >> 6);

        // ---- address ranges ----
        _sets = new GroupSetInterner(groupNames.Count);
        (_v4, _v6) = BuildAddressMaps(document, options, addressGroupIds, _sets);

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
                // A rule naming only agents has no address groups, and matches no address by itself.
                if (rule.Rule.Source.Count == 0 || rule.SourceGroups.Any(g => Has(members, g)))
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
            foreach (var d in rule.Rule.Destination)
                if (threatIds.TryGetValue(d.Value, out var t)) SetBit(_rulesByThreatDomain, t, rule.Index);
        }
        _singleWord = _ruleWords == 1 && _webWords == 1 && _threatWords == 1 && _names.IsSingleWord;
        _defaultAction = document.DefaultAction;
        _agentRules = new ulong[Math.Max(1, document.Agents.Count) * _ruleWords];
        foreach (var rule in rules)
            foreach (var source in rule.Rule.Source)
                if (_agentIds.TryGetValue(source.Value, out var agent)) SetBit(_agentRules, agent, rule.Index);

        // Before resolving: a rule's destination may hold when some address class satisfies it (a service-tag group
        // without a Service Tags file has none) and holds for sure when every class does.
        _rulesForSomeAddress = new ulong[_ruleWords];
        _rulesForEveryAddress = new ulong[_ruleWords];
        Array.Fill(_rulesForEveryAddress, ulong.MaxValue);
        for (var s = 0; s < setCount; s++)
            for (var w = 0; w < _ruleWords; w++)
            {
                _rulesForSomeAddress[w] |= _destinationRules[s * _ruleWords + w];
                _rulesForEveryAddress[w] &= _destinationRules[s * _ruleWords + w];
            }

        var inspection = Credentials.WithPlaceholderPatterns(document.Inspection);
        Inspector = options.Inspectors?.For(inspection) ?? new PayloadInspector(inspection);
        Names = new NamePolicy(this, WithoutAddressOnlyRules());
    }

    /// <summary>
    /// This policy with one rule's mode changed and <paramref name="contentHash"/> as its hash, without compiling
    /// again (a mode changes only what a match of that rule puts in its verdict, so every lookup table is shared and
    /// only the rule list is new); null when the rule does not exist. The editor checks the texts the hash stands for
    /// (<see cref="Editing.RuleModeEditor.WithRuleMode"/>).
    /// </summary>
    internal CompiledPolicy? WithRuleMode(string ruleName, RuleMode mode, string contentHash)
    {
        var at = Array.FindIndex(_rules, r => r.Name == ruleName);
        if (at < 0) return null;
        var old = _rules[at];
        var changed = old.Rule with { Mode = mode };
        var rules = (CompiledRule[])_rules.Clone();
        rules[at] = new CompiledRule(changed, old.Index, old.SourceGroups, old.DestinationGroups, old.WebGroups, Document);
        var documentRules = Document.Rules.Select(r => ReferenceEquals(r, old.Rule) ? changed : r).ToArray();
        var document = Document with { Rules = documentRules, ContentHash = contentHash };
        return new CompiledPolicy(this, document, rules);
    }

    /// <summary>
    /// This policy with the rules that let flows through by address alone set aside (null when it has none): what the
    /// rules that read the name decide (<see cref="NamePolicy"/>). No source matches a rule set aside, so it is never a
    /// candidate; every other table is shared, and its verdicts name the same <see cref="CompiledRule"/>s.
    /// </summary>
    private CompiledPolicy? WithoutAddressOnlyRules()
    {
        var setAside = _rules.Where(r => r.ResolvesEveryName).ToArray();
        if (setAside.Length == 0) return null;
        var sourceRules = (ulong[])_sourceRules.Clone();
        var agentRules = (ulong[])_agentRules.Clone();
        foreach (var table in (ulong[][])[sourceRules, agentRules])
            for (var row = 0; row < table.Length; row += _ruleWords)
                foreach (var rule in setAside) table[row + (rule.Index >> 6)] &= ~(1UL << rule.Index);
        return new CompiledPolicy(this, Document, _rules, sourceRules, agentRules);
    }

    // Shares every lookup table of basis; only the document and the rules are new (see WithRuleMode), or only the
    // source masks (see WithoutAddressOnlyRules).
    private CompiledPolicy(CompiledPolicy basis, PolicyDocument document, CompiledRule[] rules, ulong[]? sourceRules = null, ulong[]? agentRules = null)
    {
        IsDerived = true;
        Document = document;
        Options = basis.Options;
        Credentials = basis.Credentials;
        Agents = basis.Agents;
        _agentIds = basis._agentIds;
        _agentRules = agentRules ?? basis._agentRules;
        Rules = rules;
        _rules = rules;
        AddressGroupNames = basis.AddressGroupNames;
        _v4 = basis._v4;
        _v6 = basis._v6;
        _names = basis._names;
        _ruleWords = basis._ruleWords;
        _webWords = basis._webWords;
        _threatWords = basis._threatWords;
        _sourceRules = sourceRules ?? basis._sourceRules;
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
        _rulesForSomeAddress = basis._rulesForSomeAddress;
        _rulesForEveryAddress = basis._rulesForEveryAddress;
        Inspector = basis.Inspector;
        Names = new NamePolicy(this, sourceRules is null ? WithoutAddressOnlyRules() : null);
    }

    private void SetBit(ulong[] table, int row, int bit) => table[row * _ruleWords + (bit >> 6)] |= 1UL << bit;

    private static bool Has(ulong[] bits, int group) => (bits[group >> 6] & (1UL << group)) != 0;

    /// <summary>
    /// The address ranges of every group, cut into the two families' range maps. Its own method so that the interval
    /// lists (12 bytes an IPv4 prefix) are garbage before the name trie is built.
    /// </summary>
    private static (RangeMap<uint>, RangeMap<UInt128>) BuildAddressMaps(PolicyDocument document, CompileOptions options,
        Dictionary<string, int> addressGroupIds, GroupSetInterner sets)
    {
        // Sized once for the groups' prefixes (IPv4 nearly always; a million-entry feed would otherwise grow the list
        // twenty times), plus the built-in ranges.
        var prefixCount = document.SmartGroups.Sum(g => g.Cidrs.Count + g.ServicePrefixes.Count) +
                          document.ThreatGroups.Sum(t => t.Feeds.Sum(f => f.Prefixes.Count));
        var v4 = new List<RangeMap<uint>.Interval>(prefixCount + 64);
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
        return (RangeMap<uint>.Build(v4, sets), RangeMap<UInt128>.Build(v6, sets));

        void AddPrefixRange(IntervalMath.Range r, int group)
        {
            if (r.IsV4) v4.Add(new((uint)r.First, (uint)r.Last, group));
            else v6.Add(new(r.First, r.Last, group));
        }
    }

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
    // The decision function: one evaluator, specialized by generic struct parameters (as Kestrel's
    // HttpParser<TRequestHandler> is) for Decide (no trace), Explain (a trace of every rule) and
    // DecideBeforeResolving (destination address unknown). The JIT compiles one copy per struct and removes
    // what a specialization does not use; the meaning of a rule, the guard and the default action is written once.
    // ---------------------------------------------------------------------------------------------------------

    /// <summary>
    /// Decides a flow: the first rule, by ascending priority, whose every condition holds; else the default action.
    /// With several candidate addresses each is decided and the first that is permitted is chosen
    /// (<see cref="Verdict.AddressIndex"/>), so the caller dials only an address that passed.
    /// <see cref="Flow.Path"/> is the request target as sent; it is read only where a URL filter must match.
    /// Allocation-free.
    /// </summary>
    public Verdict Decide(in Flow flow)
    {
        var trace = new NoTrace();
        return Evaluate(flow, new AddressesKnown(), ref trace, out _);
    }

    /// <summary>
    /// Decides a flow whose host name is known and whose addresses are not, before any DNS query: either a final
    /// verdict (<see cref="NameDecision.NeedsAddresses"/> false) that no address could change and that never lets
    /// the flow through, or "resolve the name and call <see cref="Decide"/>". Final when the name is threat-listed
    /// by a deny rule reached first, or when no rule that would let the flow through (an enforced permit, a watched
    /// rule, the default action permit) can match this source, name, port, protocol and TLS flag for any address.
    /// Address-dependent conditions (destination groups, the internal-address guard) count as "could match".
    /// <see cref="Flow.Destinations"/> and <see cref="Flow.AssumePublicIfUnresolved"/> are ignored; a null
    /// <see cref="Flow.IsTls"/> means "not known yet" here (a rule requiring TLS could match). Allocation-free.
    /// </summary>
    public NameDecision DecideBeforeResolving(in Flow flow) => DecideBeforeResolving(flow, anyTransport: false);

    /// <summary>
    /// For a DNS resolver: could any connection from <paramref name="source"/> to <paramref name="host"/>, on any
    /// port and protocol, be let through? Final (answer without resolving) when no rule that lets a flow through
    /// can match this source and name for any address, port, protocol or TLS flag; the final verdict names the
    /// rule that denies an HTTPS connection to the name (e.g. a threat rule). <paramref name="host"/> must be normalized
    /// (<see cref="HostName.TryNormalize"/>). Allocation-free.
    /// </summary>
    public NameDecision DecideNameForAnyConnection(IPAddress source, string host) =>
        DecideBeforeResolving(new Flow { Source = source, Host = host, Port = 443, IsTls = true }, anyTransport: true);

    private NameDecision DecideBeforeResolving(in Flow flow, bool anyTransport)
    {
        var trace = new NoTrace();
        var possible = Evaluate(flow, new AddressUnknown(anyTransport), ref trace, out var undecided);
        if (undecided) return NameDecision.Resolve(possible.Rule);
        if (possible.Reason == DecisionReason.HostNotNormalized) return NameDecision.Final(possible);
        // No address could let the flow through. Report what a public address in no smart group gets (what explain
        // assumes for an unresolved name): the rule a real resolution would most likely meet, never one that lets through.
        var assumedPublic = flow with { Destinations = [], AssumePublicIfUnresolved = true, IsTls = flow.IsTls ?? false };
        return NameDecision.Final(Evaluate(assumedPublic, new AddressesKnown(), ref trace, out _));
    }

    internal Verdict Evaluate<TFacts, TTrace>(in Flow flow, TFacts facts, ref TTrace trace, out bool undecided)
        where TFacts : struct, IFlowFacts where TTrace : struct, IDecisionTrace =>
        _singleWord ? EvaluateOneWord(flow, facts, ref trace, out undecided) : EvaluateAnyWords(flow, facts, ref trace, out undecided);

    // Policies with at most 64 rules, web groups and threat groups (the Foundry pack, most real ones): the six
    // scratch bitsets are one word each, in a local the JIT keeps out of the heap and off a stackalloc.
    private Verdict EvaluateOneWord<TFacts, TTrace>(in Flow flow, TFacts facts, ref TTrace trace, out bool undecided)
        where TFacts : struct, IFlowFacts where TTrace : struct, IDecisionTrace
    {
        var scratch = new OneWordScratch();
        return Evaluate<OneWord, TFacts, TTrace>(flow, facts, ref trace, scratch, out undecided);
    }

    private Verdict EvaluateAnyWords<TFacts, TTrace>(in Flow flow, TFacts facts, ref TTrace trace, out bool undecided)
        where TFacts : struct, IFlowFacts where TTrace : struct, IDecisionTrace
    {
        // One stack buffer for all six bitsets (stackalloc zero-fills it): one stack probe and one clear, not six.
        Span<ulong> scratch = stackalloc ulong[2 * _webWords + _threatWords + 3 * _ruleWords];
        return Evaluate<AnyWords, TFacts, TTrace>(flow, facts, ref trace, scratch, out undecided);
    }

    [System.Runtime.CompilerServices.InlineArray(6)]
    private struct OneWordScratch
    {
        private ulong _first;
    }

    /// <summary>
    /// The evaluator. <typeparamref name="TWidth"/> fixes the bitset widths at one word when it can. The masks are
    /// read by index (scratch offsets and table rows), not through spans, so the one-word case compiles to a few
    /// loads and register operations.
    /// </summary>
    private Verdict Evaluate<TWidth, TFacts, TTrace>(in Flow flow, TFacts facts, ref TTrace trace, Span<ulong> scratch, out bool undecided)
        where TWidth : struct, IWordCount where TFacts : struct, IFlowFacts where TTrace : struct, IDecisionTrace
    {
        undecided = false;
        // Fail closed on facts the caller should never hand over: an unnormalized name could miss a threat-listed
        // domain, and "no address" is only meaningful to explain.
        if (flow.Host is { } name && !IsNormalized(name))
            return new Verdict(RuleAction.Deny, null, true, false, DecisionReason.HostNotNormalized, -1, false, null);
        var count = TFacts.KnowsAddresses ? flow.Destinations.Count : 0;
        if (TFacts.KnowsAddresses && count == 0 && !flow.AssumePublicIfUnresolved)
            return new Verdict(RuleAction.Deny, null, true, false, DecisionReason.NoDestinationAddress, -1, false, null);

        var webWords = TWidth.Of(_webWords);
        var threatWords = TWidth.Of(_threatWords);
        var ruleWords = TWidth.Of(_ruleWords);
        var masks = new NameMasks(webWords, threatWords, ruleWords);
        for (var w = 0; w < ruleWords; w++) scratch[masks.NameRules + w] = _rulesWithoutWebGroups[w];
        if (flow.Host is { } host)
        {
            if (TWidth.IsOne) _names.LookupSingle(host, out scratch[masks.Web], out scratch[masks.UrlHosts], out scratch[masks.Threat]);
            else _names.Lookup(host, scratch.Slice(masks.Web, webWords), scratch.Slice(masks.UrlHosts, webWords), scratch.Slice(masks.Threat, threatWords));
            if (TTrace.TracesEveryRule)
                trace.UrlHosts(scratch.Slice(masks.UrlHosts, webWords));
            for (var w = 0; w < webWords; w++)
            {
                var urlHosts = scratch[masks.UrlHosts + w];
                var domainOnly = scratch[masks.Web + w] & ~urlHosts;
                OrGroupRules<TWidth>(domainOnly, w, _rulesByWebGroup, scratch, masks.DomainOnlyRules);
                OrGroupRules<TWidth>(domainOnly, w, _rulesByWebGroup, scratch, masks.NameRules);
                // At connection level a URL filter's host admits the rule; with a path, a URL filter must match it.
                if (urlHosts != 0)
                {
                    var admitting = flow.Path is null ? urlHosts : UrlFilteredGroupsAdmitting(urlHosts, w, host, flow.Path);
                    OrGroupRules<TWidth>(admitting, w, _rulesByWebGroup, scratch, masks.NameRules);
                }
            }
            for (var w = 0; w < threatWords; w++) OrGroupRules<TWidth>(scratch[masks.Threat + w], w, _rulesByThreatDomain, scratch, masks.ThreatNameRules);
        }
        var sourceRow = LookupSet(flow.Source) * ruleWords;
        var agentRow = flow.Agent is { } agent && _agentIds.TryGetValue(agent, out var agentId) ? agentId * ruleWords : -1;

        if (count == 0)
            return DecideForAddress<TWidth, TFacts, TTrace>(flow, facts, scratch, sourceRow, agentRow,
                TFacts.KnowsAddresses ? _unknownPublicSet : AnyAddress, -1, ref trace, ref undecided);

        Verdict best = default;
        var haveBest = false;
        for (var i = 0; i < count; i++)
        {
            var verdict = DecideForAddress<TWidth, TFacts, TTrace>(flow, facts, scratch, sourceRow, agentRow, LookupSet(flow.Destinations[i]), i, ref trace, ref undecided);
            if (verdict.Action == RuleAction.Permit) return verdict;
            if (!haveBest || (verdict.LetsThrough && !best.LetsThrough)) { best = verdict; haveBest = true; }
        }
        return best;
    }

    /// <summary>Where each of the six per-flow bitsets starts in the evaluator's scratch buffer.</summary>
    private readonly struct NameMasks(int webWords, int threatWords, int ruleWords)
    {
        public int Web => 0;
        public int UrlHosts => webWords;
        public int Threat => 2 * webWords;
        public int NameRules => 2 * webWords + threatWords;                        // web-group condition holds
        public int DomainOnlyRules => 2 * webWords + threatWords + ruleWords;      // ... through a domain entry, no URL filter for this host
        public int ThreatNameRules => 2 * webWords + threatWords + 2 * ruleWords;  // destination holds through a threat-listed name
    }

    /// <summary>The address set of a destination not known yet (<see cref="AddressUnknown"/>): every address is possible.</summary>
    private const int AnyAddress = -1;

    private Verdict DecideForAddress<TWidth, TFacts, TTrace>(in Flow flow, TFacts facts, Span<ulong> scratch, int sourceRow, int agentRow,
        int set, int addressIndex, ref TTrace trace, ref bool undecided)
        where TWidth : struct, IWordCount where TFacts : struct, IFlowFacts where TTrace : struct, IDecisionTrace
    {
        var ruleWords = TWidth.Of(_ruleWords);
        var masks = new NameMasks(TWidth.Of(_webWords), TWidth.Of(_threatWords), ruleWords); // constants for one word
        var setRow = TFacts.KnowsAddresses ? set * ruleWords : 0;
        var rules = _rules;
        CompiledRule? guardSkipped = null;
        trace.BeginAddress(addressIndex, set);

        for (var w = 0; w < ruleWords; w++)
        {
            // This word of each mask, read once: the rule loop below works on registers.
            // With the address unknown, a destination condition may hold (some address satisfies it) and holds for
            // sure when every address does (no destination, "anywhere", or a threat group listing the name); the
            // guard may apply (the address could be internal), so a name permit is never certain.
            var threatNameWord = scratch[masks.ThreatNameRules + w];
            // The source holds by address, or by the agent the client authenticated as (agentRow -1: none).
            var sourceWord = _sourceRules[sourceRow + w] | (agentRow >= 0 ? _agentRules[agentRow + w] : 0);
            var destinationWord = (TFacts.KnowsAddresses ? _destinationRules[setRow + w] : _rulesForSomeAddress[w]) | threatNameWord;
            var certainWord = TFacts.KnowsAddresses ? ulong.MaxValue : _rulesForEveryAddress[w] | threatNameWord;
            var nameWord = scratch[masks.NameRules + w];
            var candidates = TTrace.TracesEveryRule
                ? ulong.MaxValue // explain reports every rule, using the same masks below
                : sourceWord & destinationWord & nameWord;
            while (candidates != 0)
            {
                var index = (w << 6) + BitOperations.TrailingZeroCount(candidates);
                candidates &= candidates - 1;
                if ((uint)index >= (uint)rules.Length) break;
                var rule = rules[index];
                var bit = 1UL << index;
                var certain = TFacts.KnowsAddresses || (certainWord & bit) != 0;
                var check = !TTrace.TracesEveryRule ? RuleCheck.Ok :
                    (sourceWord & bit) == 0 ? RuleCheck.Source :
                    (destinationWord & bit) == 0 ? RuleCheck.Destination :
                    (nameWord & bit) == 0 ? RuleCheck.WebGroup :
                    RuleCheck.Ok;
                if (check == RuleCheck.Ok) check = facts.CheckTransport(rule, flow, ref certain);
                // The internal-address guard: a name-based permit never authorizes an internal or platform address.
                // Private, CGNAT and ULA addresses may be opened by the rule's own smart groups naming them; loopback,
                // link-local/metadata, platform and embedded forms never.
                // Read only for a name permit: with the address unknown it could be any address, loopback included.
                if (check == RuleCheck.Ok && rule.PermitsByName && (!TFacts.KnowsAddresses ||
                    (_guardedSets[set] && (_hardGuardedSets[set] || (_explicitRules[setRow + w] & bit) == 0))))
                {
                    if (TFacts.KnowsAddresses)
                    {
                        check = RuleCheck.Guard;
                        guardSkipped ??= rule;
                    }
                    else certain = false;
                }
                trace.Rule(rule, check);
                if (check != RuleCheck.Ok) continue;

                var pending = flow.Path is null && rule.PermitsByName && (scratch[masks.DomainOnlyRules + w] & bit) == 0;
                var verdict = new Verdict(rule.Action, rule, rule.MatchedEnforced, rule.MatchedDecrypt, rule.MatchedReason, addressIndex, pending, guardSkipped);
                if (!TFacts.KnowsAddresses)
                {
                    if (verdict.LetsThrough) { undecided = true; return verdict; }
                    if (!certain) continue; // a deny for some addresses only: others go on to the rules below
                }
                trace.Decided(verdict);
                return verdict;
            }
        }
        var fallback = new Verdict(_defaultAction, null, true, false, DecisionReason.DefaultAction, addressIndex, false, guardSkipped);
        if (!TFacts.KnowsAddresses && fallback.LetsThrough) undecided = true;
        trace.Decided(fallback);
        return fallback;
    }

    private static readonly System.Buffers.SearchValues<char> NormalizedNameChars =
        System.Buffers.SearchValues.Create("abcdefghijklmnopqrstuvwxyz0123456789-_.");

    // Vectorized: a few nanoseconds on the hot path.
    private static bool IsNormalized(string host) =>
        host.Length is > 0 and <= HostName.MaxLength && host[^1] != '.' && host[0] != '.' &&
        !host.AsSpan().ContainsAnyExcept(NormalizedNameChars);

    /// <summary>
    /// Of the web groups <paramref name="groups"/> (word <paramref name="word"/>) that list <paramref name="host"/>
    /// in a URL filter, those with a filter matching <paramref name="target"/>. The path is normalized here, only
    /// because a URL filter has to match it; a path that cannot be normalized unambiguously matches none (fail closed).
    /// </summary>
    private ulong UrlFilteredGroupsAdmitting(ulong groups, int word, string host, string target)
    {
        Span<char> path = stackalloc char[Math.Clamp(target.Length, 1, UrlPath.MaxLength)];
        if (!UrlPath.TryNormalize(target, path, out var length, out _)) return 0;
        path = path[..length];
        var admitting = 0UL;
        for (var remaining = groups; remaining != 0; remaining &= remaining - 1)
        {
            var g = BitOperations.TrailingZeroCount(remaining);
            foreach (var filter in _urlFiltersByWebGroup[(word << 6) + g])
                if (filter.Host.Matches(host) && UrlPath.GlobMatches(filter.PathGlob, path))
                {
                    admitting |= 1UL << g;
                    break;
                }
        }
        return admitting;
    }

    // ORs the rule masks of the groups set in one word of a group bitset into scratch[into ..].
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private void OrGroupRules<TWidth>(ulong groups, int word, ulong[] table, Span<ulong> scratch, int into) where TWidth : struct, IWordCount
    {
        var ruleWords = TWidth.Of(_ruleWords);
        for (; groups != 0; groups &= groups - 1)
        {
            var row = ((word << 6) + BitOperations.TrailingZeroCount(groups)) * ruleWords;
            for (var i = 0; i < ruleWords; i++) scratch[into + i] |= table[row + i];
        }
    }

    internal ulong[] MembersOfSet(int set) => _sets.Sets[set];
    internal bool IsGuardedSet(int set) => _guardedSets[set];
}

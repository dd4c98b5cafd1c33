using System.Net;
using Corral.Policy.Compilation;
using Corral.Policy.Model;

namespace Corral.Replay;

/// <summary>One destination the selected rule denied (or would have, in watch mode).</summary>
public sealed record DeniedName(string Name, long Records, long Flows, DateTimeOffset FirstSeen, DateTimeOffset LastSeen,
    IReadOnlyList<string> SourceGroups, IReadOnlyList<IPAddress> Addresses, NameRisk Risk);

/// <summary>An entry proposed for the web group: a name, or a wildcard standing for several siblings.</summary>
public sealed record ProposedEntry(string Domain, IReadOnlyList<DeniedName> Covers)
{
    public long Records => Covers.Sum(c => c.Records);
    public long Flows => Covers.Sum(c => c.Flows);
    public DateTimeOffset FirstSeen => Covers.Min(c => c.FirstSeen);
    public DateTimeOffset LastSeen => Covers.Max(c => c.LastSeen);
    public IReadOnlyList<string> SourceGroups => Covers.SelectMany(c => c.SourceGroups).Distinct().Order(StringComparer.Ordinal).ToList();
}

/// <summary>What <c>corral suggest</c> proposes: entries to add, and denied destinations held back for review.</summary>
public sealed record Suggestion(
    string? Rule,
    string WebGroup,
    long RecordsRead,
    long RecordsSelected,
    IReadOnlyList<ProposedEntry> Entries,
    IReadOnlyList<DeniedName> HeldBack,
    long NamesNotTracked,
    string PublicSuffixSource,
    LineProblems Malformed);

/// <summary>
/// Turns the flows a deny rule denied (or would have denied in watch mode) into a proposed web-group change: sibling
/// names (one parent, below a public suffix) collapse to <c>*.parent</c>; names an engineer
/// must look at first (IP literals, encoded labels, one flow only, threat feeds) are held back, never proposed.
/// Streams its input; memory grows with distinct names (at most <see cref="MaxNames"/>), not with records.
/// </summary>
public sealed class Suggester(CompiledPolicy policy, PublicSuffixList suffixes)
{
    public const int MaxNames = 100_000;

    /// <summary>Sibling names (one parent) from which a wildcard is proposed instead of each name.</summary>
    public int CollapseAt { get; init; } = 3;

    private readonly NameRisks _risks = new(policy.Document);
    private readonly Dictionary<IPAddress, string[]> _sourceGroups = [];

    /// <summary>
    /// The web group a suggestion goes to by default: that of the permit-by-name rule closest before the deny rule
    /// (the one a flow reaches just before it is denied), or null when there is none.
    /// </summary>
    public string? DefaultWebGroup(string? ruleName)
    {
        var deny = ruleName is null ? null : policy.FindRule(ruleName);
        var permit = policy.Rules.Where(r => r.Action == RuleAction.Permit && r.HasWebGroups && (deny is null || r.Priority < deny.Priority))
            .OrderByDescending(r => r.Priority).FirstOrDefault();
        return permit?.Rule.WebGroups[0].Value;
    }

    public Suggestion Run(IEnumerable<RecordedFlow> records, string? ruleName, string webGroup, LineProblems malformed)
    {
        var group = policy.Document.WebGroups.FirstOrDefault(g => g.Name == webGroup);
        var names = new Dictionary<string, Tally>(StringComparer.Ordinal);
        long read = 0, selected = 0, untracked = 0;
        foreach (var record in records)
        {
            read++;
            if (record.Facts is not { } facts) continue;
            var verdict = policy.Decide(facts);
            if (verdict.Action != RuleAction.Deny || (ruleName is not null && verdict.Rule?.Name != ruleName)) continue;
            var name = facts.Host ?? record.Address?.ToString();
            if (name is null) continue;
            selected++;
            if (group is not null && facts.Host is not null && group.Domains.Any(d => d.Value.Matches(facts.Host))) continue; // already listed: denied for another reason
            if (!names.TryGetValue(name, out var tally))
            {
                if (names.Count >= MaxNames) { untracked++; continue; }
                names[name] = tally = new Tally(facts.Host is null);
            }
            tally.Add(record, facts, SourceGroupsOf(facts.Source));
        }
        var denied = names.Select(n => n.Value.ToDeniedName(n.Key, _risks)).ToList();
        var (entries, heldBack) = Propose(denied);
        return new Suggestion(ruleName, webGroup, read, selected, entries, heldBack, untracked, suffixes.Source, malformed);
    }

    /// <summary>
    /// Decides the selected records again against <paramref name="edited"/> (this policy with the entries added): how
    /// many would now be permitted, and the proposed names whose flows would still be denied, with the rule that denies them.
    /// </summary>
    public (long Permitted, long Selected, IReadOnlyDictionary<string, string> StillDenied) Check(IEnumerable<RecordedFlow> records, string? ruleName, CompiledPolicy edited, Suggestion suggestion)
    {
        var proposed = suggestion.Entries.SelectMany(e => e.Covers).Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
        var stillDenied = new Dictionary<string, string>(StringComparer.Ordinal);
        long permitted = 0, selected = 0;
        foreach (var record in records)
        {
            if (record.Facts is not { } facts || (facts.Host ?? record.Address?.ToString()) is not { } name || !proposed.Contains(name)) continue;
            var before = policy.Decide(facts);
            if (before.Action != RuleAction.Deny || (ruleName is not null && before.Rule?.Name != ruleName)) continue;
            selected++;
            var after = edited.Decide(facts);
            if (after.Action == RuleAction.Permit) permitted++;
            else stillDenied.TryAdd(name, after.Rule?.Name ?? "the default action");
        }
        return (permitted, selected, stillDenied);
    }

    private (List<ProposedEntry>, List<DeniedName>) Propose(List<DeniedName> denied)
    {
        var heldBack = denied.Where(d => d.Risk != NameRisk.None).OrderByDescending(d => d.Records).ThenBy(d => d.Name, StringComparer.Ordinal).ToList();
        var entries = new List<ProposedEntry>();
        // Siblings are names with the same parent (a.pkgs.example.org, b.pkgs.example.org): enough of them become
        // *.pkgs.example.org, never anything broader, and never at or above a public suffix (alice.github.io and
        // bob.github.io stay apart). A parent with a threat-listed name below its registrable domain is never a wildcard.
        var threatened = denied.Where(d => (d.Risk & NameRisk.ThreatFeed) != 0).Select(d => Registrable(d.Name)).ToHashSet(StringComparer.Ordinal);
        foreach (var siblings in denied.Where(d => d.Risk == NameRisk.None).GroupBy(d => ParentOf(d.Name)))
        {
            var registrable = Registrable(siblings.First().Name);
            var collapse = siblings.Key is { } parent && siblings.Count() >= CollapseAt && registrable is not null
                && parent.Length >= registrable.Length && !threatened.Contains(registrable);
            if (collapse) entries.Add(new ProposedEntry("*." + siblings.Key, siblings.ToList()));
            else entries.AddRange(siblings.Select(d => new ProposedEntry(d.Name, [d])));
        }
        return (entries.OrderByDescending(e => e.Records).ThenBy(e => e.Domain, StringComparer.Ordinal).ToList(), heldBack);
    }

    private static string? ParentOf(string name)
    {
        var dot = name.IndexOf('.');
        return dot < 0 || Policy.Addressing.IpLiteral.TryParse(name, out _) ? null : name[(dot + 1)..];
    }

    private string? Registrable(string name) => Policy.Addressing.IpLiteral.TryParse(name, out _) ? null : suffixes.RegistrableDomain(name);

    private string[] SourceGroupsOf(IPAddress source)
    {
        if (_sourceGroups.TryGetValue(source, out var known)) return known;
        var groups = policy.Document.SmartGroups.Where(g => g.AllPrefixes.Any(p => p.Contains(source))).Select(g => g.Name).ToArray();
        if (_sourceGroups.Count < MaxNames) _sourceGroups[source] = groups;
        return groups.Length > 0 ? groups : [source.ToString()];
    }

    private sealed class Tally(bool isAddress)
    {
        private long _records;
        private string? _firstFlow;
        private bool _severalFlows;
        private long _flows;
        private DateTimeOffset _first = DateTimeOffset.MaxValue, _last = DateTimeOffset.MinValue;
        private readonly HashSet<string> _groups = new(StringComparer.Ordinal);
        private readonly HashSet<IPAddress> _addresses = [];

        public void Add(RecordedFlow record, in Flow facts, string[] sourceGroups)
        {
            _records++;
            if (record.Time < _first) _first = record.Time;
            if (record.Time > _last) _last = record.Time;
            // Request records share their connection's id: a flow is counted once per id (ids seen in a row are enough
            // to tell one flow from several without keeping every id).
            var id = record.FlowId ?? record.Origin;
            if (_firstFlow is null) { _firstFlow = id; _flows = 1; }
            else if (id != _firstFlow && record.Kind == RecordKind.Decision) { _severalFlows = true; _flows++; }
            if (_groups.Count < 64) _groups.UnionWith(sourceGroups);
            foreach (var a in facts.Destinations)
                if (_addresses.Count < 16) _addresses.Add(a);
        }

        public DeniedName ToDeniedName(string name, NameRisks risks)
        {
            var risk = risks.Of(isAddress ? null : name, _addresses);
            if (!_severalFlows) risk |= NameRisk.OneFlowOnly;
            return new DeniedName(name, _records, _flows, _first, _last, _groups.Order(StringComparer.Ordinal).ToList(), _addresses.ToList(), risk);
        }
    }
}

using Corral.Policy.Compilation;

namespace Corral.Replay;

/// <summary>
/// Decides recorded flows again against a policy and tallies what changes: the one computation behind
/// <c>corral replay</c>, a rule's impact in the admin API and the lab's check before a promotion. Memory is bounded by
/// the number of distinct changes and destinations (each change keeps at most <see cref="MaxDestinationsPerChange"/>),
/// never by the number of records.
/// </summary>
public sealed partial class Replayer(CompiledPolicy policy)
{
    public const int MaxDestinationsPerChange = 4096;

    private static readonly MissingFacts[] Facts = [MissingFacts.AllAddresses, MissingFacts.Tls, MissingFacts.Path];

    /// <summary>How many destinations each change lists.</summary>
    public int Top { get; init; } = 10;

    public ReplayReport Run(IEnumerable<RecordedFlow> records, LineProblems? malformed = null)
    {
        var changes = new Dictionary<(Outcome, Outcome), ChangeTally>();
        var notReplayed = new Dictionary<string, long>(StringComparer.Ordinal);
        var without = new Dictionary<MissingFacts, long>();
        long total = 0, replayed = 0, unchanged = 0;
        DateTimeOffset? first = null, last = null;
        foreach (var record in records)
        {
            total++;
            if (first is null || record.Time < first) first = record.Time;
            if (last is null || record.Time > last) last = record.Time;
            if (record.Facts is not { } facts)
            {
                var reason = ReasonGroup(record.NotReplayable ?? "no facts recorded");
                notReplayed[reason] = notReplayed.GetValueOrDefault(reason) + 1;
                continue;
            }
            replayed++;
            foreach (var fact in Facts)
                if ((record.Missing & fact) != 0) without[fact] = without.GetValueOrDefault(fact) + 1;
            var now = Outcome.Of(policy.Decide(facts));
            if (now == record.Recorded) { unchanged++; continue; }
            if (!changes.TryGetValue((record.Recorded, now), out var tally)) changes[(record.Recorded, now)] = tally = new ChangeTally();
            tally.Add(record);
        }
        return new ReplayReport
        {
            PolicyName = policy.Document.Name, PolicyHash = policy.Hash, Records = total, Replayed = replayed, Unchanged = unchanged,
            NotReplayed = notReplayed, DecidedWithout = without, FirstSeen = first, LastSeen = last,
            Malformed = malformed ?? new LineProblems(),
            Changes = changes.Select(c => c.Value.ToChange(c.Key.Item1, c.Key.Item2, Top))
                .OrderBy(c => c.Enforcement switch { ReplayReport.PermitToDeny => 0, ReplayReport.DenyToPermit => 1, _ => 2 })
                .ThenByDescending(c => c.Count).ToList(),
        };
    }

    // Refusal texts quote the values of one flow ('gone.example' did not resolve; the TLS SNI 'a' differs from the
    // requested 'b'): each quoted value is shown as '…' so that flows refused for one reason are counted together, and
    // the rest of the sentence, categories such as a payload pattern's name included, is kept whole. An apostrophe
    // inside a word (the gateway's limit) is not a quote.
    private static string ReasonGroup(string reason) => QuotedValue().Replace(reason, m => $"{m.Value[0]}…{m.Value[0]}");

    [System.Text.RegularExpressions.GeneratedRegex(@"(?<![\p{L}\p{N}])(?:'[^']*'|""[^""]*"")(?![\p{L}\p{N}])")]
    private static partial System.Text.RegularExpressions.Regex QuotedValue();

    // Destinations are counted by name and port (by address and port when there is no name): a name that resolves to
    // many addresses is one destination, shown with the first address it was seen at.
    private sealed class ChangeTally
    {
        private readonly Dictionary<(string, int), Seen> _destinations = [];
        private long _count, _others;
        private DateTimeOffset _first = DateTimeOffset.MaxValue, _last = DateTimeOffset.MinValue;

        public void Add(RecordedFlow record)
        {
            _count++;
            if (record.Time < _first) _first = record.Time;
            if (record.Time > _last) _last = record.Time;
            var key = (record.Destination, record.Port);
            if (_destinations.TryGetValue(key, out var seen)) seen.Add(record.Time);
            else if (_destinations.Count < MaxDestinationsPerChange) _destinations[key] = new Seen(new DestinationKey(record.Host, record.Address, record.Port), record.Time);
            else _others++;
        }

        public OutcomeChange ToChange(Outcome from, Outcome to, int top)
        {
            var ranked = _destinations.Values.OrderByDescending(d => d.Count).ThenBy(d => d.Key.ToString(), StringComparer.Ordinal).ToList();
            return new OutcomeChange(from, to, _count, _first, _last,
                ranked.Take(top).Select(d => new DestinationCount(d.Key, d.Count, d.First, d.Last)).ToList(),
                _others + ranked.Skip(top).Sum(d => d.Count));
        }
    }

    private sealed class Seen(DestinationKey key, DateTimeOffset time)
    {
        public readonly DestinationKey Key = key;
        public long Count = 1;
        public DateTimeOffset First = time, Last = time;

        public void Add(DateTimeOffset t)
        {
            Count++;
            if (t < First) First = t;
            if (t > Last) Last = t;
        }
    }
}

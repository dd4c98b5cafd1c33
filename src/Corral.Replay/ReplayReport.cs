using System.Net;

namespace Corral.Replay;

/// <summary>A destination as a report shows it: name, address and port.</summary>
public readonly record struct DestinationKey(string? Host, IPAddress? Address, int Port)
{
    public override string ToString() => $"{Host ?? Address?.ToString() ?? "(unknown)"}{(Host is not null && Address is not null ? $" ({Address})" : "")}:{Port}";
}

/// <summary>How often a destination was seen in one change, and when first and last.</summary>
public sealed record DestinationCount(DestinationKey Destination, long Count, DateTimeOffset FirstSeen, DateTimeOffset LastSeen);

/// <summary>All records that went from one outcome to another, with the destinations they went to (most frequent first).</summary>
/// <param name="OtherDestinations">Records to destinations not in <paramref name="TopDestinations"/>, counted but not named.</param>
public sealed record OutcomeChange(Outcome From, Outcome To, long Count, DateTimeOffset FirstSeen, DateTimeOffset LastSeen,
    IReadOnlyList<DestinationCount> TopDestinations, long OtherDestinations)
{
    /// <summary>What happens to the bytes changes: "permit-to-deny" (let through, now blocked), "deny-to-permit", or null.</summary>
    public string? Enforcement => From.LetsThrough == To.LetsThrough ? null : From.LetsThrough ? ReplayReport.PermitToDeny : ReplayReport.DenyToPermit;
}

/// <summary>What deciding recorded flows against a policy found.</summary>
public sealed record ReplayReport
{
    public const string PermitToDeny = "permit-to-deny", DenyToPermit = "deny-to-permit";

    public required string PolicyName { get; init; }
    public required string PolicyHash { get; init; }
    /// <summary>Decision and request records read.</summary>
    public long Records { get; init; }
    public long Replayed { get; init; }
    public long Unchanged { get; init; }
    /// <summary>Records that could not be decided again, by reason ("refused by the gateway: …" grouped by its first words).</summary>
    public required IReadOnlyDictionary<string, long> NotReplayed { get; init; }
    /// <summary>Records decided without a fact they did not carry, per missing fact.</summary>
    public required IReadOnlyDictionary<MissingFacts, long> DecidedWithout { get; init; }
    /// <summary>Changed outcomes, those that change enforcement first, then by count.</summary>
    public required IReadOnlyList<OutcomeChange> Changes { get; init; }
    public DateTimeOffset? FirstSeen { get; init; }
    public DateTimeOffset? LastSeen { get; init; }
    public required LineProblems Malformed { get; init; }

    public long PermitToDenyCount => Changes.Where(c => c.Enforcement == PermitToDeny).Sum(c => c.Count);
    public long DenyToPermitCount => Changes.Where(c => c.Enforcement == DenyToPermit).Sum(c => c.Count);
    public long ChangedCount => Changes.Sum(c => c.Count);
}

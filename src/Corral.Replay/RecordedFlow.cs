using Corral.Policy.Compilation;

namespace Corral.Replay;

/// <summary>What the gateway did with a flow, as a flow-log record says it (or as a new verdict says it would).</summary>
/// <param name="Rule">The deciding rule; null for the default action or a gateway refusal.</param>
/// <param name="Permit">The verdict's action.</param>
/// <param name="Enforced">False when the deciding rule was in watch mode (logged, not carried out).</param>
/// <param name="Refused">The gateway refused the flow itself (bad input, domain fronting, a secret in a body): not a policy verdict.</param>
public readonly record struct Outcome(string? Rule, bool Permit, bool Enforced, bool Refused)
{
    /// <summary>Whether bytes flow: a permit, or a deny that is only watched.</summary>
    public bool LetsThrough => !Refused && (Permit || !Enforced);

    public static Outcome Of(in Verdict verdict) =>
        new(verdict.Rule?.Name, verdict.Action == Policy.Model.RuleAction.Permit, verdict.Enforced, false);

    /// <summary>"deny by default-deny-internet (watch)", "permit (default action)", "refused by the gateway".</summary>
    public override string ToString()
    {
        if (Refused) return "refused by the gateway";
        var action = Permit ? "permit" : "deny";
        var by = Rule is null ? " (default action)" : $" by {Rule}";
        return Enforced ? action + by : $"{action}{by} (watch)";
    }
}

/// <summary>Facts a record did not carry; replay decided without them (and says so).</summary>
[Flags]
public enum MissingFacts
{
    None = 0,
    /// <summary>Only the address dialled was recorded, not every address the name resolved to (a schema 1 record).</summary>
    AllAddresses = 1,
    /// <summary>Whether the flow was TLS was not recorded; decided as unknown (requireTls rules do not match).</summary>
    Tls = 2,
    /// <summary>The request path was not recorded; URL filters could not be checked.</summary>
    Path = 4,
}

/// <summary>The kind of a flow-log record that carries a verdict.</summary>
public enum RecordKind { Decision, Request }

/// <summary>One decision or request record read back from a flow log (or taken from the gateway's memory).</summary>
public sealed class RecordedFlow
{
    /// <summary>The file the record was read from ("memory" for the gateway's recent flows).</summary>
    public required string File { get; init; }
    /// <summary>Its line number in that file (1-based).</summary>
    public long Line { get; init; }
    /// <summary>"flows.jsonl.2.gz:1234", for reports.</summary>
    public string Origin => $"{File}:{Line}";
    public required DateTimeOffset Time { get; init; }
    public required RecordKind Kind { get; init; }
    /// <summary>The gateway's id of the connection (a decision record and its request records share it).</summary>
    public string? FlowId { get; init; }
    /// <summary>The agent the client authenticated as (explicit listener), or null.</summary>
    public string? Agent { get; init; }
    /// <summary>The name the client asked for, or null for an address-only flow.</summary>
    public string? Host { get; init; }
    /// <summary>The address the gateway dialled (or would have), as recorded.</summary>
    public System.Net.IPAddress? Address { get; init; }
    public int Port { get; init; }
    public required Outcome Recorded { get; init; }
    /// <summary>The facts to decide on; null when the record lacks one that Decide cannot do without.</summary>
    public Flow? Facts { get; init; }
    public MissingFacts Missing { get; init; }
    /// <summary>Why the record cannot be decided again (no address recorded, a refusal); null when it can.</summary>
    public string? NotReplayable { get; init; }

    /// <summary>The destination as people read it: the name, else the address.</summary>
    public string Destination => Host ?? Address?.ToString() ?? "(unknown)";
}

/// <summary>Selecting recorded flows.</summary>
public static class RecordedFlows
{
    /// <summary>Only the flows of one agent (<c>--agent</c>); every flow when <paramref name="agent"/> is null.</summary>
    public static IEnumerable<RecordedFlow> OfAgent(this IEnumerable<RecordedFlow> records, string? agent) =>
        agent is null ? records : records.Where(r => string.Equals(r.Agent, agent, StringComparison.Ordinal));
}

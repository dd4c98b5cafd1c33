using System.Net;
using Corral.Policy.Compilation;

namespace Corral.Gateway.FlowLog;

/// <summary>Which kind of flow-log line a record is.</summary>
public enum FlowEvent { Decision, Close, Request, Dns }

/// <summary>
/// One flow-log line. A decision record is queued before any byte goes upstream; a close record follows with the
/// byte counts and the duration. The verdict fields use the shape shared with <c>corral explain --json</c>.
/// </summary>
public sealed record FlowRecord
{
    /// <summary>The record schema version written as <c>"v"</c> in every line (docs/flow-log.md).</summary>
    public const int SchemaVersion = 2;

    public required FlowEvent Event { get; init; }
    public required DateTimeOffset Time { get; init; }
    public required string FlowId { get; init; }
    /// <summary>"explicit" or "transparent".</summary>
    public required string Listener { get; init; }
    public required IPEndPoint Source { get; init; }
    /// <summary>The address and port dialled (or that would have been); null when nothing was resolved.</summary>
    public IPEndPoint? Destination { get; init; }
    public string? Host { get; init; }
    public string? Method { get; init; }
    public string? Url { get; init; }
    /// <summary>The verdict as carried out; null only on a close record.</summary>
    public Verdict? Verdict { get; init; }
    /// <summary>Why the gateway refused before or beside the policy (domain fronting, malformed input); overrides the verdict.</summary>
    public string? Refusal { get; init; }
    /// <summary>With <see cref="Refusal"/>: the gateway check that refused (<c>name-mismatch</c>, <c>no-sni</c>, ...).</summary>
    public string? Check { get; init; }
    /// <summary>Whether the flow is (or, on a request record, was) decrypted by the gateway.</summary>
    public bool Decrypted { get; init; }
    /// <summary>On a request record: the status answered to the client.</summary>
    public int? Status { get; init; }
    public long BytesUp { get; init; }
    public long BytesDown { get; init; }
    public double? DurationMs { get; init; }
    /// <summary>On a request record of a rule with an mcp section: the JSON-RPC method(s), tool(s), and any denial or tool change.</summary>
    public Interception.Mcp.McpExchange? Mcp { get; init; }

    /// <summary>A request's credential: the one put in for its placeholder, or the one whose placeholder was refused (a name, never a value).</summary>
    public string? Credential { get; init; }

    /// <summary>On the record of a WebSocket's end (method WEBSOCKET): messages and bytes each way, the close code and who closed.</summary>
    public Interception.WebSockets.WebSocketSummary? WebSocket { get; init; }

    /// <summary>The agent the client authenticated as (explicit listener), or null.</summary>
    public string? Agent { get; init; }
    /// <summary>
    /// The facts the verdict was made on (source, name, every candidate address, port, protocol, TLS, path), so that
    /// <c>corral replay</c> can decide the flow again against another policy without resolving anything.
    /// Null on a close record.
    /// </summary>
    public Flow? Facts { get; init; }

    /// <summary>
    /// The gateway refused on its own (bad input, fronting, a secret in a body) rather than carrying out a policy
    /// verdict; a request its verdict denies is the policy's decision, even though it is also recorded as a refusal.
    /// </summary>
    public bool IsGatewayRefusal => Refusal is not null && !(Verdict is { LetsThrough: false } v && Refusal == v.ReasonText);
    /// <summary>On a decision record of a flow with no name of its own: the name the agent resolved through the gateway's resolver to reach its address.</summary>
    public string? ResolvedName { get; init; }
    /// <summary>On a DNS record: the query and what the resolver did with it (<see cref="Host"/> is the name asked).</summary>
    public DnsQueryFacts? Dns { get; init; }
}

/// <summary>One query to the gateway's resolver: the question, the verdict on its name, and the answer given.</summary>
/// <param name="Answered">True when the name was resolved (upstream or from the cache); false when the resolver refused it.</param>
/// <param name="Rule">The rule that could permit a connection to the name, or that denies it; null for the default action or a check.</param>
/// <param name="AddressOnly">Reachable only through an address-only permit (what <c>dns: mode</c> decides).</param>
/// <param name="UpstreamMs">The upstream's time to answer; null when it was not asked (refused, cached).</param>
/// <param name="Flags">Signs of data encoded in the name (<c>long-label</c>, <c>high-entropy</c>, <c>many-subdomains</c>).</param>
public sealed record DnsQueryFacts(string Transport, string QueryType, string ResponseCode, bool Answered, string? Rule, string Reason, bool AddressOnly,
    IReadOnlyList<IPAddress> Answers, double? UpstreamMs, bool Cached, IReadOnlyList<string> Flags);

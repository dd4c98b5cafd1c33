using System.Buffers;
using Corral.Interception.Http;
using Corral.Interception.Mcp;
using Corral.Policy.Compilation;
using Corral.Policy.Inspection;

namespace Corral.Interception;

/// <summary>
/// Why a request stopped before its response was relayed in full: the refusal the client gets and its record says.
/// Every stage's refusal comes back as one of these, and one place (<see cref="RequestStages.RefuseAsync"/>) answers it.
/// </summary>
internal sealed record RequestRefused(Refusal Refusal)
{
    /// <summary>The client may still be sending its body: read and discard it after the answer.</summary>
    public bool Drain { get; init; }

    /// <summary>Sent in place of the refusal's own HTTP response (an MCP call answered by id).</summary>
    public byte[]? Answer { get; init; }

    /// <summary>The client already has its answer (a listing withheld mid-response).</summary>
    public bool Answered { get; init; }

    /// <summary>Refused after the request went upstream: its record counts the bytes that moved.</summary>
    public bool Forwarded { get; init; }

    /// <summary>Bytes read from the client for a request refused without forwarding (an MCP call read whole).</summary>
    public long Up { get; init; }

    public McpExchange? Mcp { get; init; }

    /// <summary>The credential whose placeholder the request carried where it may not go, or that could not be read.</summary>
    public string? Credential { get; init; }
}

/// <summary>A stage's outcome: go on to the next stage, or stop the request (refused, or how the connection ends).</summary>
internal readonly record struct Step(bool GoesOn, RelayResult? End, RequestRefused? Refused)
{
    public static readonly Step GoOn = new(true, null, null);

    /// <summary>The request is done and the connection goes on to the next one.</summary>
    public static readonly Step Next = new(false, null, null);
    public static readonly Step Closed = new(false, new RelayResult(RelayEnd.Closed), null);
    public static Step Stop(RelayResult end) => new(false, end, null);
    public static implicit operator Step(RequestRefused refused) => new(false, new RelayResult(RelayEnd.Closed), refused);
}

/// <summary>One request as it passes the stages: what each stage learned, for the next one and for the record.</summary>
internal sealed class RequestExchange(string authority)
{
    public ParsedRequest? Request { get; set; }
    public HttpRequestHead Head => Request!.Head;
    public string Url { get; set; } = authority;

    /// <summary>The path as sent (origin-form), once the names agreed.</summary>
    public string? Path { get; set; }
    public Verdict Verdict { get; set; }

    /// <summary>The MCP rules of the rule that let the request through, when it has an mcp section.</summary>
    public CompiledMcpRules? McpRules => Verdict.Rule?.Mcp;
    public bool Inspects { get; set; }
    public PayloadInspector.StreamScan? Scan { get; set; }
    public byte[]? BufferedBody { get; set; }
    public McpGate.Decision? McpDecision { get; set; }
    public UpstreamConnection? Upstream { get; set; }
    public (ReadOnlySequence<byte> Head, byte[] Bytes, bool Ended) ResponseHead { get; set; }
    public long Up { get; set; }
    public long Down { get; set; }

    /// <summary>The head for the upstream with credential values in for placeholders; null: the client's head as parsed.</summary>
    public HttpRequestHead? ForwardHead { get; set; }

    /// <summary>The target for the upstream with a credential value in its query; null: <see cref="Path"/>.</summary>
    public string? ForwardPath { get; set; }

    /// <summary>The target inspection reads when a credential went into its query: without the placeholders placed.</summary>
    public string? ScannedPath { get; set; }

    /// <summary>Indexes of the headers a credential went into: inspection reads the rest.</summary>
    public HashSet<int>? PlacedHeaders { get; set; }

    /// <summary>The Sec-WebSocket-Key of a WebSocket opening handshake the rule allows; null for any other request.</summary>
    public string? WebSocketKey { get; set; }

    /// <summary>The credential put into the request (the request record names it), or refused.</summary>
    public string? Credential { get; set; }
}

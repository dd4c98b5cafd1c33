using Corral.Interception.Http;
using Corral.Interception.Mcp;
using Corral.Policy.Compilation;

namespace Corral.Interception;

/// <summary>How requests on a connection may name their destination.</summary>
public enum RelayMode
{
    /// <summary>Inside a tunnel or a decrypted or transparent flow: origin-form, or absolute-form naming the flow's own host.</summary>
    Tunnel,
    /// <summary>The explicit proxy's plain HTTP: absolute-form only; one naming another destination ends this flow.</summary>
    Proxy,
}

/// <summary>The destination a connection's requests must all name: host (normalized name or canonical address) and port.</summary>
public sealed record RelayTarget(string Scheme, string Name, int Port, RelayMode Mode)
{
    public string Authority => Port == (Scheme == "https" ? 443 : 80) ? Name : Name.Contains(':') ? $"[{Name}]:{Port}" : $"{Name}:{Port}";
}

/// <summary>Why a relay stopped.</summary>
public enum RelayEnd
{
    /// <summary>The connection is done (closed, refused, or not to be reused).</summary>
    Closed,
    /// <summary>The next request (still unread in the client's reader) names another destination: a new flow for it.</summary>
    OtherDestination,
}

/// <summary>A request head parsed once by the one HTTP/1.1 parser, its <paramref name="Length"/> bytes (with any empty
/// lines before it) still unread in the client's reader: whoever parsed it hands it on, nobody parses it again.</summary>
public sealed record ParsedRequest(HttpRequestHead Head, int Length);

/// <summary>How a relay stopped; for <see cref="RelayEnd.OtherDestination"/>, the next request, parsed and unread.</summary>
public readonly record struct RelayResult(RelayEnd End, ParsedRequest? Next = null);

/// <summary>
/// The flow's gate for its requests: the gateway's flow session, which owns the flow's policy snapshot. The request
/// pipeline gathers each request's facts and acts on the answers; the gate decides and writes the records. No member
/// has a default: a gate that wraps another (HTTP/2's serialized gate) must pass on every question, or it would not
/// compile — a default answer there would be a way around the check it stands for.
/// </summary>
public interface IRequestGate
{
    /// <summary>Admits one request's head: decided by its path as sent (origin-form, query included), through the policy's one decision function.</summary>
    Verdict Admit(string path);

    /// <summary>
    /// Counts a request against the budget of the flow's agent, before anything of it goes upstream (its declared body
    /// length included); the refusal when the agent is over its budget.
    /// </summary>
    Refusal? ChargeBudget(string destination, long declaredBytes);

    /// <summary>Whether a tool of this flow's MCP server changed since it was pinned and is held until an operator accepts it.</summary>
    bool IsToolHeld(string tool);

    /// <summary>A tools/list answer from this flow's MCP server, for a rule that pins tools; returns the tools that differ from the pins.</summary>
    IReadOnlyList<string> OnToolsListed(McpToolListing listing);

    /// <summary>The credentials of the flow's policy snapshot: which placeholders stand for which secret, and where each may go.</summary>
    CompiledCredentials Credentials { get; }

    /// <summary>A credential's value, read from its source now (a rotated key takes effect at once); null with the problem otherwise.</summary>
    string? CredentialValue(CompiledCredential credential, out string? problem);

    /// <summary>Completes one request with its outcome: the flow log's request record (called once per request).</summary>
    void Complete(InspectedRequest request);
}

/// <summary>One request's outcome: method, URL, verdict, and the refusal when it was not forwarded.</summary>
public sealed record InspectedRequest(string Method, string Url, Verdict Verdict, bool Forwarded, int Status, Refusal? Refusal, long BytesUp, long BytesDown)
{
    /// <summary>The request's path as sent (origin-form, query included), the fact its verdict was decided on; null when it could not be read.</summary>
    public string? Path { get; init; }

    public string? DeniedBy => Refusal?.RecordText;

    /// <summary>On a rule with an mcp section: the JSON-RPC method(s) and tool(s) the request carried, and any denial.</summary>
    public McpExchange? Mcp { get; init; }

    /// <summary>The credential put into the request, or whose placeholder refused it (a name, never a value).</summary>
    public string? Credential { get; init; }

    /// <summary>On the record of a WebSocket's end: messages and bytes each way, and how it closed.</summary>
    public WebSockets.WebSocketSummary? WebSocket { get; init; }
}

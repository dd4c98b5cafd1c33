using Corral.Policy.Addressing;
using Corral.Policy.Diagnostics;

namespace Corral.Policy.Model;

/// <summary>
/// An agent that authenticates to the gateway's explicit listener: the SHA-256 of each token it may present (never a
/// token), the addresses it may connect from, and its optional budget. Rules name it as a source beside smart groups.
/// </summary>
public sealed record Agent(
    string Name,
    SourceLocation Location,
    IReadOnlyList<Located<byte[]>> TokenHashes,
    IReadOnlyList<Located<IpPrefix>> Cidrs,
    AgentBudget? Budget);

/// <summary>What one agent may do in a time window, per gateway process; a null limit is no limit.</summary>
/// <param name="RequestsPerMinute">Flows and HTTP requests the agent may start in any minute.</param>
/// <param name="UpstreamBytesPerHour">Bytes the agent may send upstream (request bodies, tunnel bytes) in any hour.</param>
public sealed record AgentBudget(int? RequestsPerMinute, long? UpstreamBytesPerHour);

using Corral.Interception.Http;
using Corral.Interception.Mcp;
using Corral.Policy.Compilation;
using Corral.Policy.Inspection;

namespace Corral.Interception.Http2;

/// <summary>
/// What the streams of one decrypted h2 connection share: the flow's destination, its gate and inspector, and where
/// each stream gets its own upstream (h1 connections from the interceptor's pool: one per stream in flight).
/// </summary>
internal sealed record Http2Flow(RelayTarget Target, IRequestGate Gate, PayloadInspector Inspector, Func<Upstreams> NewUpstreams, CancellationToken Stopping);

/// <summary>
/// The flow's gate for concurrent streams: the gate (the flow session) counts and records one request at a time, as an
/// HTTP/1.1 connection calls it, so the streams of one h2 connection take turns at it.
/// </summary>
internal sealed class SerializedGate(IRequestGate inner) : IRequestGate
{
    private readonly Lock _turn = new();

    public Verdict Admit(string path)
    {
        lock (_turn) return inner.Admit(path);
    }

    public Refusal? ChargeBudget(string destination, long declaredBytes)
    {
        lock (_turn) return inner.ChargeBudget(destination, declaredBytes);
    }

    public bool IsToolHeld(string tool)
    {
        lock (_turn) return inner.IsToolHeld(tool);
    }

    public IReadOnlyList<string> OnToolsListed(McpToolListing listing)
    {
        lock (_turn) return inner.OnToolsListed(listing);
    }

    public CompiledCredentials Credentials => inner.Credentials;

    public string? CredentialValue(CompiledCredential credential, out string? problem)
    {
        lock (_turn) return inner.CredentialValue(credential, out problem);
    }

    public void Complete(InspectedRequest request)
    {
        lock (_turn) inner.Complete(request);
    }
}

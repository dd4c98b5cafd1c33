using System.Net;
using Corral.Gateway.Resolution;
using Corral.Policy.Compilation;

namespace Corral.Gateway.Decision;

/// <summary>A flow's facts and the verdict on them; Unresolved when a name that needed its addresses had none.</summary>
internal readonly record struct FlowDecision(Flow Flow, Verdict Verdict, bool Unresolved)
{
    public bool LetsThrough => !Unresolved && Verdict.LetsThrough;

    /// <summary>The address to dial: the one the verdict chose.</summary>
    public IPAddress DialAddress => Flow.Destinations[Verdict.AddressIndex];
}

/// <summary>
/// Gathers the facts of a flow (the gateway's own resolution of the name, every address) and asks the compiled
/// policy. This is the only place the gateway obtains verdicts; it never reads a rule itself. Every decision on one
/// flow uses the policy snapshot the flow took when it started (<see cref="Snapshot"/>), and so does everything else
/// the flow asks of a policy: the address-only rules (<see cref="CompiledPolicy.Names"/>), the payload patterns
/// (<see cref="CompiledPolicy.Inspector"/>), a rule's MCP section and body bound (<see cref="CompiledRule"/>).
/// </summary>
internal sealed class FlowDecider(PolicySource policy, IResolver resolver, System.Diagnostics.Metrics.Histogram<double>? decisionSeconds = null)
{
    /// <summary>The policy in force now: a flow takes it once and decides everything on it with it.</summary>
    public CompiledPolicy Snapshot() => policy.Current;

    /// <summary>Asks the policy, timing only the policy's own work (not name resolution).</summary>
    private Verdict Decide(CompiledPolicy snapshot, in Flow flow)
    {
        var start = System.Diagnostics.Stopwatch.GetTimestamp();
        var verdict = snapshot.Decide(flow);
        decisionSeconds?.Record(System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds);
        return verdict;
    }

    /// <summary>
    /// Decides a flow. A name is first decided without its addresses: when no address could let the flow through (a
    /// threat-listed name, or no permit that could match this source, name and port), that verdict stands and no DNS
    /// query is sent, so an attacker-chosen name never leaves through the gateway's resolver.
    /// </summary>
    /// <param name="dialled">The address the client itself dialled, when known (the transparent listener's original
    /// destination): rules that permit by address alone are decided on it, and the name is looked up only when a rule
    /// that reads the name could let the flow through.</param>
    /// <param name="agent">The agent the client authenticated as on the explicit listener (rules naming it as a source match too); null for none.</param>
    public async ValueTask<FlowDecision> DecideAsync(CompiledPolicy snapshot, IPAddress source, Destination destination, int port, string? path, bool? isTls,
        CancellationToken ct, IPAddress? dialled = null, string? agent = null)
    {
        IReadOnlyList<IPAddress> addresses;
        if (destination.Address is { } literal)
        {
            addresses = [literal];
        }
        else
        {
            var byName = new Flow { Source = source, Agent = agent, Host = destination.Host, Port = port, Path = path, IsTls = isTls };
            if (dialled is not null && snapshot.Names.AddressOnlyRules.Count > 0)
            {
                // Any name could resolve into an address-only rule's destinations, so the whole policy would want every
                // name resolved. The address the client dialled decides those rules; the name only the others.
                var onAddress = byName with { Destinations = [dialled] };
                var verdict = Decide(snapshot, onAddress);
                if (verdict.LetsThrough && verdict.Rule is { ResolvesEveryName: true }) return new FlowDecision(onAddress, verdict, false);
                var named = snapshot.Names.DecideByNameRules(byName)!.Value;
                if (!named.NeedsAddresses)
                    return verdict.LetsThrough ? new FlowDecision(byName, named.Verdict, false) : new FlowDecision(onAddress, verdict, false);
            }
            var before = snapshot.DecideBeforeResolving(byName);
            if (!before.NeedsAddresses) return new FlowDecision(byName, before.Verdict, false);
            addresses = await resolver.ResolveAsync(destination.Host!, ct).ConfigureAwait(false);
            // Never hand Decide an empty list of a name that needed its addresses: the flow is refused as unresolved.
            if (addresses.Count == 0) return new FlowDecision(byName, default, true);
        }
        var flow = new Flow { Source = source, Agent = agent, Host = destination.Host, Destinations = addresses, Port = port, Path = path, IsTls = isTls };
        return new FlowDecision(flow, Decide(snapshot, flow), false);
    }

    /// <summary>Decides one request inside a flow: the same facts, the request's path, and only the address dialled.</summary>
    public Verdict DecideRequest(CompiledPolicy snapshot, in FlowDecision earlier, string path)
    {
        var flow = earlier.Flow.Destinations.Count > 0
            ? earlier.Flow with { Path = path, Destinations = [earlier.DialAddress] }
            : earlier.Flow with { Path = path };
        return Decide(snapshot, flow);
    }

    /// <summary>Decides again with one fact corrected (the stream turned out to be TLS); no new resolution.</summary>
    public FlowDecision Redecide(CompiledPolicy snapshot, in FlowDecision earlier, bool? isTls)
    {
        var flow = earlier.Flow with { IsTls = isTls };
        return new FlowDecision(flow, Decide(snapshot, flow), false);
    }
}

using Corral.Policy.Model;

namespace Corral.Policy.Compilation;

/// <summary>A rule as the decision function sees it: its position in priority order and its per-flow checks.</summary>
public sealed class CompiledRule
{
    internal CompiledRule(Rule rule, int index, int[] sourceGroups, int[] destinationGroups, int[] webGroups, PolicyDocument document)
    {
        Rule = rule;
        Index = index;
        SourceGroups = sourceGroups;
        DestinationGroups = destinationGroups;
        WebGroups = webGroups;
        Ports = rule.Ports.ToArray();
        // The per-flow checks, read once here instead of through the Rule record on every decision.
        Action = rule.Action;
        Mode = rule.Mode;
        Decrypt = rule.Decrypt;
        HasWebGroups = webGroups.Length > 0;
        _protocols = rule.Protocol switch
        {
            RuleProtocol.Any => -1, // every value, even one outside the enum
            RuleProtocol.Tcp => 1 << (int)FlowProtocol.Tcp,
            RuleProtocol.Udp => 1 << (int)FlowProtocol.Udp,
            _ => 1 << (int)FlowProtocol.Icmp,
        };
        _requireTls = rule.RequireTls;
        var watched = Mode == RuleMode.Watch;
        MatchedEnforced = !watched;
        MatchedDecrypt = !watched && Action == RuleAction.Permit && Decrypt == DecryptPolicy.Allowed;
        MatchedReason = watched ? DecisionReason.WatchedRuleMatched : DecisionReason.RuleMatched;
        PermitsByName = Action == RuleAction.Permit && HasWebGroups;
        ResolvesEveryName = LetsThroughByAddressAlone(rule, document);
        Mcp = rule.Mcp is { } mcp ? new CompiledMcpRules(mcp) : null;
        MaxBufferedBody = rule.MaxBufferedBody;
        AllowsWebSocket = rule.WebSocket;
    }

    /// <summary>
    /// A rule that lets a flow through by address alone (a permit, or any watched rule, with no web group) from a
    /// source an agent could have: no name is final before resolving for the flows it covers (see
    /// <see cref="CompiledPolicy.DecideBeforeResolving(in Flow)"/>), so any name its sources ask for is resolvable.
    /// </summary>
    private static bool LetsThroughByAddressAlone(Rule rule, PolicyDocument document) =>
        rule.WebGroups.Count == 0 && (rule.Action == RuleAction.Permit || rule.Mode == RuleMode.Watch) &&
        (rule.Source.Count == 0 || rule.Source.Any(s => SourceCouldBeAgent(s.Value, document)));

    // Any address group can hold an agent, except a threat group with no addresses (one that lists only domains).
    private static bool SourceCouldBeAgent(string group, PolicyDocument document) =>
        document.ThreatGroups.FirstOrDefault(t => t.Name == group) is not { } threat || threat.AllPrefixes.Any();

    private readonly int _protocols; // bit (1 << FlowProtocol) per protocol the rule accepts; -1 for any
    private readonly bool _requireTls;

    // What a match of this rule puts in its Verdict, precomputed.
    internal bool MatchedEnforced { get; }
    internal bool MatchedDecrypt { get; }
    internal DecisionReason MatchedReason { get; }
    /// <summary>A permit through web groups: the internal-address guard applies, and URL filters may be pending.</summary>
    internal bool PermitsByName { get; }

    /// <summary>The rule as written, with its location in the policy file.</summary>
    public Rule Rule { get; }

    /// <summary>Position in ascending-priority order, which is also its bit in rule masks.</summary>
    public int Index { get; }

    public string Name => Rule.Name;
    public int Priority => Rule.Priority;
    public RuleAction Action { get; }
    public RuleMode Mode { get; }
    public DecryptPolicy Decrypt { get; }
    public bool Logging => Rule.Logging;
    public bool HasWebGroups { get; }

    /// <summary>
    /// The rule lets flows through by address alone, so any name its sources ask for is resolvable (the
    /// <c>resolves-every-name</c> lint; the resolver's <c>dns: mode</c> decides such names, see <see cref="NamePolicy"/>).
    /// </summary>
    public bool ResolvesEveryName { get; }

    /// <summary>The MCP calls this rule lets through, message by message; null when it has no mcp section.</summary>
    public CompiledMcpRules? Mcp { get; }

    /// <summary>How many bytes of a request body the gateway may hold to inspect it whole on this rule; null: the gateway's default.</summary>
    public int? MaxBufferedBody { get; }

    /// <summary>An HTTP/1.1 WebSocket upgrade may go through this rule (<c>websocket: allow</c>), each client message inspected.</summary>
    public bool AllowsWebSocket { get; }

    internal int[] SourceGroups { get; }
    internal int[] DestinationGroups { get; }
    internal int[] WebGroups { get; }
    internal PortRange[] Ports { get; }

    /// <summary>The checks that are not group membership: protocol, ports, TLS. Shared by Decide and Explain.</summary>
    internal RuleCheck CheckTransport(in Flow flow)
    {
        if (_protocols != -1 && ((uint)flow.Protocol > (uint)FlowProtocol.Icmp || (_protocols & (1 << (int)flow.Protocol)) == 0))
            return RuleCheck.Protocol;
        if (Ports.Length > 0)
        {
            if (flow.Protocol == FlowProtocol.Icmp) return RuleCheck.Port;
            var any = false;
            foreach (var range in Ports)
                if (range.Contains(flow.Port)) { any = true; break; }
            if (!any) return RuleCheck.Port;
        }
        if (_requireTls && flow.IsTls != true) return RuleCheck.Tls;
        return RuleCheck.Ok;
    }

    /// <summary>
    /// <see cref="CheckTransport"/> before resolving: with <paramref name="anyTransport"/>, whether some connection
    /// (any protocol, port, TLS or not) could satisfy the rule; otherwise with the flow's port and protocol, and an
    /// unknown (null) TLS flag taken as possibly TLS. <paramref name="certain"/> becomes false when the answer
    /// depends on what is not known.
    /// </summary>
    internal RuleCheck CheckTransportBeforeResolving(in Flow flow, bool anyTransport, ref bool certain)
    {
        if (anyTransport)
        {
            if (Ports.Length > 0 && _protocols == 1 << (int)FlowProtocol.Icmp) return RuleCheck.Port; // ICMP has no ports
            if (_protocols != -1 || Ports.Length > 0 || _requireTls) certain = false;
            return RuleCheck.Ok;
        }
        if (_requireTls && flow.IsTls is null) certain = false;
        return CheckTransport(flow with { IsTls = flow.IsTls ?? true });
    }

    public override string ToString() => $"{Name} (priority {Priority})";
}

/// <summary>Which condition of a rule failed for a flow (Ok when all held).</summary>
internal enum RuleCheck { Ok, Source, Destination, WebGroup, Url, Protocol, Port, Tls, Guard }

using Corral.Policy.Model;

namespace Corral.Policy.Compilation;

/// <summary>A rule as the decision function sees it: its position in priority order and its per-flow checks.</summary>
public sealed class CompiledRule
{
    internal CompiledRule(Rule source, int index, int[] sourceGroups, int[] destinationGroups, int[] webGroups)
    {
        Source = source;
        Index = index;
        SourceGroups = sourceGroups;
        DestinationGroups = destinationGroups;
        WebGroups = webGroups;
        Ports = source.Ports.ToArray();
    }

    /// <summary>The rule as written, with its location in the policy file.</summary>
    public Rule Source { get; }

    /// <summary>Position in ascending-priority order, which is also its bit in rule masks.</summary>
    public int Index { get; }

    public string Name => Source.Name;
    public int Priority => Source.Priority;
    public RuleAction Action => Source.Action;
    public RuleMode Mode => Source.Mode;
    public DecryptPolicy Decrypt => Source.Decrypt;
    public bool Logging => Source.Logging;
    public bool HasWebGroups => WebGroups.Length > 0;

    internal int[] SourceGroups { get; }
    internal int[] DestinationGroups { get; }
    internal int[] WebGroups { get; }
    internal PortRange[] Ports { get; }

    /// <summary>The checks that are not group membership: protocol, ports, TLS. Shared by Decide and Explain.</summary>
    internal RuleCheck CheckTransport(in Flow flow)
    {
        var protocolMatches = Source.Protocol switch
        {
            RuleProtocol.Any => true,
            RuleProtocol.Tcp => flow.Protocol == FlowProtocol.Tcp,
            RuleProtocol.Udp => flow.Protocol == FlowProtocol.Udp,
            _ => flow.Protocol == FlowProtocol.Icmp,
        };
        if (!protocolMatches) return RuleCheck.Protocol;
        if (Ports.Length > 0)
        {
            if (flow.Protocol == FlowProtocol.Icmp) return RuleCheck.Port;
            var any = false;
            foreach (var range in Ports)
                if (range.Contains(flow.Port)) { any = true; break; }
            if (!any) return RuleCheck.Port;
        }
        if (Source.RequireTls && flow.IsTls != true) return RuleCheck.Tls;
        return RuleCheck.Ok;
    }

    public override string ToString() => $"{Name} (priority {Priority})";
}

/// <summary>Which condition of a rule failed for a flow (Ok when all held).</summary>
internal enum RuleCheck { Ok, Source, Destination, WebGroup, Url, Protocol, Port, Tls, Guard }

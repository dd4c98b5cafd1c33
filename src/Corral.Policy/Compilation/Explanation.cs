using System.Net;
using Corral.Policy.Addressing;
using Corral.Policy.Model;

namespace Corral.Policy.Compilation;

/// <summary>One rule tried for one address, with whether it matched and why not.</summary>
public sealed record RuleStep(CompiledRule Rule, bool Matched, string Detail);

/// <summary>The rules tried for one candidate destination address.</summary>
public sealed record AddressTrace(IPAddress? Address, IReadOnlyList<string> Groups, string? GuardedBecause, IReadOnlyList<RuleStep> Steps, Verdict Verdict);

/// <summary>A decision with its reasons: which rules were tried, in order, and why each matched or not.</summary>
public sealed record Explanation(Flow Flow, Verdict Verdict, IReadOnlyList<AddressTrace> Addresses);

/// <summary>Collects what the evaluator saw, for <see cref="CompiledPolicy.Explain"/>.</summary>
internal sealed class DecisionTrace(CompiledPolicy policy, Flow flow)
{
    private ulong[] _urlHosts = [];
    private readonly List<AddressTrace> _addresses = [];
    private List<RuleStep> _steps = [];
    private int _set, _addressIndex;

    public IReadOnlyList<AddressTrace> Addresses => _addresses;

    public void UrlHosts(ReadOnlySpan<ulong> urlHosts) => _urlHosts = urlHosts.ToArray();

    public void BeginAddress(int addressIndex, int set)
    {
        _steps = [];
        _set = set;
        _addressIndex = addressIndex;
    }

    public void Rule(CompiledRule rule, RuleCheck check) => _steps.Add(new RuleStep(rule, check == RuleCheck.Ok, Describe(rule, check)));

    public void Decided(Verdict verdict)
    {
        var address = _addressIndex >= 0 ? flow.Destinations[_addressIndex] : null;
        var members = policy.MembersOfSet(_set);
        var groups = new List<string>();
        for (var g = 0; g < policy.AddressGroupNames.Count; g++)
            if (g != CompiledPolicy.GuardedGroup && g != CompiledPolicy.HardGuardedGroup && Has(members, g)) groups.Add(policy.AddressGroupNames[g]);
        string? guardedBecause = null;
        if (policy.IsGuardedSet(_set) && address is not null)
            guardedBecause = AddressClasses.DescribeGuarded(IpPrefix.Host(address)) ?? "internal";
        _addresses.Add(new AddressTrace(address, groups, guardedBecause, _steps, verdict));
    }

    private string Describe(CompiledRule rule, RuleCheck check)
    {
        var doc = policy.Document;
        switch (check)
        {
            case RuleCheck.Source:
                return $"source {flow.Source}{(flow.Agent is null ? "" : $" (agent {flow.Agent})")} is not in {Names(rule.Rule.Source)}";
            case RuleCheck.Destination:
                return $"destination {DestinationText()} is not in {Names(rule.Rule.Destination)}";
            case RuleCheck.WebGroup:
                if (flow.Host is null) return "no host name (address-only flow); web groups match names only";
                var groups = rule.WebGroups.Select(w => doc.WebGroups[w]).ToList();
                var urlGroups = groups.Where((g, i) => Has(_urlHosts, rule.WebGroups[i])).Select(g => g.Name).ToList();
                if (urlGroups.Count > 0 && flow.Path is not null)
                    return UrlPath.TryNormalize(flow.Path, out var path, out var pathError)
                        ? $"path {path} on {flow.Host} matches no URL filter of {string.Join(", ", urlGroups)}"
                        : $"path {flow.Path} on {flow.Host} is ambiguous ({pathError}), so it matches no URL filter of {string.Join(", ", urlGroups)}";
                return $"host {flow.Host} is not in {Names(rule.Rule.WebGroups)}";
            case RuleCheck.Protocol:
                return $"protocol {flow.Protocol.ToString().ToLowerInvariant()} is not the rule's {rule.Rule.Protocol.ToString().ToLowerInvariant()}";
            case RuleCheck.Port:
                return $"port {flow.Port} is not in {string.Join(", ", rule.Ports)}";
            case RuleCheck.Tls:
                return "the rule requires TLS and the flow is not TLS";
            case RuleCheck.Guard:
                var address = _addressIndex >= 0 ? flow.Destinations[_addressIndex] : null;
                var why = address is null ? "internal" : AddressClasses.DescribeGuarded(IpPrefix.Host(address)) ?? "internal";
                return $"the name matches, but {address} is {why}: a hostname permit never reaches internal or platform addresses";
            default:
                var parts = new List<string>();
                if (rule.Rule.Source.Count > 0) parts.Add($"source in {Names(rule.Rule.Source)}");
                if (rule.Rule.Destination.Count > 0) parts.Add($"destination in {Names(rule.Rule.Destination)}");
                if (rule.HasWebGroups) parts.Add($"host {flow.Host} in {Names(rule.Rule.WebGroups)}");
                if (rule.Ports.Length > 0) parts.Add($"port {flow.Port}");
                return parts.Count == 0 ? "matches every flow" : string.Join("; ", parts);
        }
    }

    private string DestinationText()
    {
        var address = _addressIndex >= 0 ? flow.Destinations[_addressIndex].ToString() : "(unresolved, taken as a public address)";
        return flow.Host is null ? address : $"{flow.Host} at {address}";
    }

    private static string Names(IReadOnlyList<Located<string>> names) => names.Count == 0 ? "anywhere" : string.Join(", ", names.Select(n => n.Value));

    private static bool Has(ulong[] bits, int index) => (index >> 6) < bits.Length && (bits[index >> 6] & (1UL << index)) != 0;
}

public sealed partial class CompiledPolicy
{
    /// <summary>Decides a flow as <see cref="Decide"/> does and records why each rule matched or not.</summary>
    public Explanation Explain(in Flow flow)
    {
        var collected = new DecisionTrace(this, flow);
        var trace = new ExplainTrace(collected);
        var verdict = Evaluate(flow, new AddressesKnown(), ref trace, out _);
        return new Explanation(flow, verdict, collected.Addresses);
    }
}

using System.Net;
using Corral.Policy.Addressing;
using Corral.Policy.Compilation;
using Corral.Policy.Model;

namespace Corral.Gateway.NameService;

/// <summary>The resolver's verdict on one query's name.</summary>
/// <param name="Forward">True to ask the upstream resolver; false to answer NXDOMAIN without any upstream query.</param>
/// <param name="Rule">The rule that could let a connection to the name through, or that denies it (null: the default action).</param>
/// <param name="AddressOnly">The name is reachable only through a rule that permits by address with no web group.</param>
public readonly record struct NameVerdict(bool Forward, string? Rule, string Reason, bool AddressOnly);

/// <summary>
/// What the resolver asks of one compiled policy: which sources it serves (the addresses of the smart groups rules
/// name as sources: no open resolver) and, for a name, whether any rule could let a connection to it through
/// (<see cref="CompiledPolicy.DecideNameForAnyConnection"/>). A name that only address-only permits (the
/// <c>resolves-every-name</c> lint's rules) can reach is decided by the policy's <c>dns: mode</c>: it is asked of the
/// same policy compiled without those rules. Immutable; built once per policy snapshot.
/// </summary>
public sealed class NamePolicy
{
    private readonly CompiledPolicy _policy;
    private readonly CompiledPolicy? _withoutAddressOnly;
    private readonly IpPrefix[] _sources;
    private readonly bool _everySource;

    public NamePolicy(CompiledPolicy policy)
    {
        _policy = policy;
        var document = policy.Document;
        var addressOnly = new Decision.AddressOnlyRules(policy);
        AddressOnlyRules = addressOnly.Names;
        _withoutAddressOnly = addressOnly.WithoutThem;
        // A source is what some rule's source matches, as on the proxy listeners: a rule that names no source matches every client.
        _everySource = document.Rules.Any(r => r.Source.Count == 0);
        var sourceGroups = document.Rules.SelectMany(r => r.Source).Select(s => s.Value).ToHashSet(StringComparer.Ordinal);
        _sources = document.SmartGroups.Where(g => sourceGroups.Contains(g.Name)).SelectMany(g => g.AllPrefixes).Distinct().ToArray();
    }

    public CompiledPolicy Policy => _policy;
    public RuleMode Mode => _policy.Document.Dns.Mode;

    /// <summary>The rules that permit by address alone: names reachable only through them are what <see cref="Mode"/> decides.</summary>
    public IReadOnlyList<string> AddressOnlyRules { get; }

    /// <summary>Whether some rule could apply to <paramref name="source"/>: it is in a smart group a rule names as its
    /// source, or a rule names no source (and so applies to every client, as on the proxy listeners).</summary>
    public bool Serves(IPAddress source)
    {
        if (_everySource) return true;
        foreach (var prefix in _sources)
            if (prefix.Contains(source)) return true;
        return false;
    }

    /// <summary>Decides a name already read from the wire (lower case, letters, digits, '-', '_').</summary>
    public NameVerdict Decide(IPAddress source, string name)
    {
        if (!HostName.TryNormalize(name, out var normalized, out var error))
            return new NameVerdict(false, null, $"not a host name: {error}", false);
        var any = _policy.DecideNameForAnyConnection(source, normalized);
        if (!any.NeedsAddresses) return new NameVerdict(false, any.Verdict.Rule?.Name, any.Verdict.ReasonText, false);
        if (_withoutAddressOnly is null) return new NameVerdict(true, any.PossibleRule?.Name, "a rule could permit a connection to this name", false);
        var byName = _withoutAddressOnly.DecideNameForAnyConnection(source, normalized);
        if (byName.NeedsAddresses) return new NameVerdict(true, byName.PossibleRule?.Name, "a rule could permit a connection to this name", false);
        var through = any.PossibleRule?.Name;
        // Refused: the rule that decides the name once address-only permits are set aside (a catch-all deny, the default).
        return Mode == RuleMode.Enforce
            ? new NameVerdict(false, byName.Verdict.Rule?.Name, $"reachable only through address-only rule '{through}' (dns: mode enforce)", true)
            : new NameVerdict(true, through, $"reachable only through address-only rule '{through}'; mode enforce would refuse it", true);
    }
}

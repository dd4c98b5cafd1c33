using System.Net;
using Corral.Policy.Addressing;
using Corral.Policy.Model;

namespace Corral.Policy.Compilation;

/// <summary>The resolver's verdict on one query's name.</summary>
/// <param name="Forward">True to ask the upstream resolver; false to answer NXDOMAIN without any upstream query.</param>
/// <param name="Rule">The rule that could let a connection to the name through, or that denies it (null: the default action).</param>
/// <param name="AddressOnly">The name is reachable only through a rule that permits by address with no web group.</param>
public readonly record struct NameVerdict(bool Forward, string? Rule, string Reason, bool AddressOnly);

/// <summary>
/// What a policy snapshot answers about names, for the gateway's resolver and for flows decided on the address the
/// client dialled: which sources the resolver serves (the addresses of the smart groups rules name as sources: no
/// open resolver), which rules let flows through by address alone (<see cref="CompiledRule.ResolvesEveryName"/>),
/// what the rules that read the name decide with those set aside, and the verdict on a queried name. Any name could
/// resolve into an address-only rule's destinations, so asking the whole policy "could this name be let through?"
/// answers yes for every name; the policy's <c>dns: mode</c> decides the names only those rules can reach.
/// Immutable; built with its policy (<see cref="CompiledPolicy.Names"/>).
/// </summary>
public sealed class NamePolicy
{
    private readonly CompiledPolicy _policy;
    private readonly CompiledPolicy? _withoutAddressOnly;
    private readonly IpPrefix[] _sources;
    private readonly bool _everySource;

    /// <param name="withoutAddressOnly">The same policy with its address-only rules set aside (null when it has none).</param>
    internal NamePolicy(CompiledPolicy policy, CompiledPolicy? withoutAddressOnly)
    {
        _policy = policy;
        _withoutAddressOnly = withoutAddressOnly;
        var document = policy.Document;
        var setAside = policy.Rules.Where(r => r.ResolvesEveryName).Select(r => r.Name).ToHashSet(StringComparer.Ordinal);
        AddressOnlyRules = withoutAddressOnly is null ? [] : document.Rules.Select(r => r.Name).Where(setAside.Contains).ToArray();
        EnforcesAddressOnly = document.Dns.Mode == RuleMode.Enforce;
        // A source is what some rule's source matches, as on the proxy listeners: a rule that names no source matches every client.
        _everySource = document.Rules.Any(r => r.Source.Count == 0);
        var sourceGroups = document.Rules.SelectMany(r => r.Source).Select(s => s.Value).ToHashSet(StringComparer.Ordinal);
        _sources = document.SmartGroups.Where(g => sourceGroups.Contains(g.Name)).SelectMany(g => g.AllPrefixes).Distinct().ToArray();
    }

    /// <summary>The rules that let flows through by address alone, in policy order: names reachable only through them are what <c>dns: mode</c> decides.</summary>
    public IReadOnlyList<string> AddressOnlyRules { get; }

    /// <summary>The policy's <c>dns: mode</c> is enforce: a name reachable only through address-only rules is refused (watch: resolved and flagged).</summary>
    public bool EnforcesAddressOnly { get; }

    /// <summary>Whether some rule could apply to <paramref name="source"/>: it is in a smart group a rule names as its
    /// source, or a rule names no source (and so applies to every client, as on the proxy listeners).</summary>
    public bool Serves(IPAddress source)
    {
        if (_everySource) return true;
        foreach (var prefix in _sources)
            if (prefix.Contains(source)) return true;
        return false;
    }

    /// <summary>
    /// What the rules that read the name decide before resolving, with the address-only rules set aside; null when the
    /// policy has none (then the whole policy's <see cref="CompiledPolicy.DecideBeforeResolving(in Flow)"/> is the answer).
    /// </summary>
    public NameDecision? DecideByNameRules(in Flow flow) => _withoutAddressOnly?.DecideBeforeResolving(flow);

    /// <summary>Decides a name already read from the wire (lower case, letters, digits, '-', '_').</summary>
    public NameVerdict Decide(IPAddress source, string name)
    {
        if (!HostName.TryNormalize(name, out var normalized, out var error))
            return new NameVerdict(false, null, $"not a host name: {error}", false);
        // A credential's placeholder in a name would leave in the upstream query: never forwarded, whatever the rules say.
        if (_policy.Credentials.FindIn(normalized) is { } credential)
            return new NameVerdict(false, null, $"the name carries the placeholder of credential {credential.Name}, where it may not go", false);
        var any = _policy.DecideNameForAnyConnection(source, normalized);
        if (!any.NeedsAddresses) return new NameVerdict(false, any.Verdict.Rule?.Name, any.Verdict.ReasonText, false);
        if (_withoutAddressOnly is null) return new NameVerdict(true, any.PossibleRule?.Name, "a rule could permit a connection to this name", false);
        var byName = _withoutAddressOnly.DecideNameForAnyConnection(source, normalized);
        if (byName.NeedsAddresses) return new NameVerdict(true, byName.PossibleRule?.Name, "a rule could permit a connection to this name", false);
        var through = any.PossibleRule?.Name;
        // Refused: the rule that decides the name once address-only permits are set aside (a catch-all deny, the default).
        return EnforcesAddressOnly
            ? new NameVerdict(false, byName.Verdict.Rule?.Name, $"reachable only through address-only rule '{through}' (dns: mode enforce)", true)
            : new NameVerdict(true, through, $"reachable only through address-only rule '{through}'; mode enforce would refuse it", true);
    }
}

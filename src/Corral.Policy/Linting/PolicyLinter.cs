using System.Net;
using Corral.Policy.Addressing;
using Corral.Policy.Compilation;
using Corral.Policy.Diagnostics;
using Corral.Policy.Model;

namespace Corral.Policy.Linting;

/// <summary>
/// Warnings about a policy that loads but would break the agent runtime or leave a hole: shadowed rules,
/// permits after a catch-all deny, decryption of certificate-pinned Microsoft names, platform names that
/// the catch-all would block, a catch-all left in watch mode, rules that make every name resolvable, and decryption
/// without a declared interception CA.
/// </summary>
public static class PolicyLinter
{
    /// <summary>Names Microsoft's clients pin or that carry tokens; decrypting them breaks the runtime.</summary>
    public static readonly IReadOnlyList<string> PinnedPlatformNames =
    [
        "login.microsoftonline.com", "tenant.login.microsoftonline.com", "login.microsoft.com", "tenant.login.microsoft.com",
        "login.windows.net", "myidentity.identity.azure.net", "mcr.microsoft.com", "eastus.data.mcr.microsoft.com",
        "management.azure.com", "packages.aks.azure.com", "acs-mirror.azureedge.net",
    ];

    /// <summary>Names every Azure Container Apps environment (and so every Foundry hosted agent) needs (Microsoft's ACA firewall guidance).</summary>
    public static readonly IReadOnlyList<string> ContainerAppsPlatformNames =
    [
        "mcr.microsoft.com", "eastus.data.mcr.microsoft.com", "packages.aks.azure.com", "acs-mirror.azureedge.net",
        "myidentity.identity.azure.net", "login.microsoftonline.com", "tenant.login.microsoftonline.com", "tenant.login.microsoft.com",
    ];

    public static IReadOnlyList<Diagnostic> Lint(PolicyDocument document, CompiledPolicy compiled)
    {
        var diagnostics = new List<Diagnostic>();
        var groups = new GroupRanges(document);
        var rules = compiled.Rules;

        for (var i = 0; i < rules.Count; i++)
        {
            var rule = rules[i].Rule;
            for (var j = 0; j < i; j++)
            {
                var earlier = rules[j].Rule;
                if (!Covers(earlier, rule, groups)) continue;
                if (IsCatchAllDeny(earlier) && rule.Action == RuleAction.Permit)
                    diagnostics.Add(new Diagnostic(Severity.Warning, "permit-after-catch-all", rule.Location,
                        $"permit rule '{rule.Name}' comes after catch-all deny '{earlier.Name}' (priority {earlier.Priority}) and can never match",
                        $"give it a priority below {earlier.Priority}"));
                else
                    diagnostics.Add(new Diagnostic(Severity.Warning, "shadowed-rule", rule.Location,
                        $"rule '{rule.Name}' can never match: rule '{earlier.Name}' (priority {earlier.Priority}) matches every flow it would",
                        "remove it, or move it before the broader rule"));
                break;
            }

            if (IsCatchAllDeny(rule) && rule.Mode == RuleMode.Watch)
                diagnostics.Add(new Diagnostic(Severity.Warning, "catch-all-watch", rule.LocationOf("mode"),
                    $"catch-all deny '{rule.Name}' only watches: promote it (mode: enforce) once its logged flows look right"));

            if (rule.Action == RuleAction.Permit && rule.Decrypt == DecryptPolicy.Allowed)
            {
                LintDecryptOfPinnedNames(document, compiled, rules[i], diagnostics);
                // A decrypting permit (watched too: it decrypts once promoted) needs a CA the agents and the controller
                // trust: one warning, at the first such rule, when none is declared (a declared one was checked as it loaded).
                if (document.Tls.InterceptionCa is null && !diagnostics.Any(d => d.Code == "no-interception-ca"))
                    diagnostics.Add(new Diagnostic(Severity.Warning, "no-interception-ca", rule.LocationOf("decrypt"),
                        $"rule '{rule.Name}' decrypts but the policy declares no interception CA",
                        "run 'corral ca init --out corral-ca' and set tls.interceptionCa; the agents and the controller must trust it"));
            }

            // One sentence; the trade-off and the dns: section's part: corral explain --lint resolves-every-name. A watched
            // deny also resolves every name until it is promoted, but while it watches it lets the flows themselves
            // through, which is what promotion (and catch-all-watch) is about: warning on each watched deny of a fresh,
            // watch-first pack says nothing the operator can act on before promoting.
            if (rule.Action == RuleAction.Permit && rules[i].ResolvesEveryName)
                diagnostics.Add(new Diagnostic(Severity.Warning, "resolves-every-name", rule.Location,
                    $"rule '{rule.Name}' permits by address alone: in explicit mode any name its sources ask for on {PortsText(rule)} is resolved",
                    "add a web group naming its hosts, or narrow its sources or ports"));

            // A watched permit is never decrypted, so its URL filters cannot be checked: every path of the host passes.
            if (rule.Action == RuleAction.Permit && rule.Mode == RuleMode.Watch &&
                rule.WebGroups.Any(w => document.WebGroups.First(g => g.Name == w.Value).Urls.Count > 0))
                diagnostics.Add(new Diagnostic(Severity.Warning, "watch-url-filter", rule.LocationOf("mode"),
                    $"rule '{rule.Name}' is a watched permit with URL filters: watched rules are not decrypted, so every path of those hosts passes",
                    "enforce the rule to apply its URL filters"));
        }

        LintPlatformNamesReachable(document, compiled, groups, diagnostics);
        return diagnostics;
    }

    private static string PortsText(Rule rule) =>
        rule.Ports.Count == 0 ? "any port" : (rule.Ports.Count == 1 ? "port " : "ports ") + string.Join(", ", rule.Ports);

    /// <summary>A deny for all internet destinations: no web groups, any port, destination anywhere or public-internet.</summary>
    public static bool IsCatchAllDeny(Rule rule) =>
        rule.Action == RuleAction.Deny && rule.WebGroups.Count == 0 && rule.Ports.Count == 0 &&
        rule.Protocol is RuleProtocol.Any or RuleProtocol.Tcp && !rule.RequireTls &&
        (rule.Destination.Count == 0 || rule.Destination.Any(d => d.Value is PolicyDocument.Anywhere or PolicyDocument.PublicInternet));

    private static void LintDecryptOfPinnedNames(PolicyDocument document, CompiledPolicy compiled, CompiledRule rule, List<Diagnostic> diagnostics)
    {
        var patterns = PatternsOf(document, rule.Rule);
        foreach (var name in PinnedPlatformNames)
        {
            var covered = rule.HasWebGroups ? patterns.Any(p => p.Matches(name)) : CoversPublicInternet(rule.Rule);
            if (!covered) continue;
            // Only a problem if no earlier rule takes the name first.
            var earlierTakesIt = compiled.Rules.Take(rule.Index).Any(r => r.HasWebGroups && PatternsOf(document, r.Rule).Any(p => p.Matches(name)));
            if (earlierTakesIt) continue;
            diagnostics.Add(new Diagnostic(Severity.Warning, "decrypt-pinned", rule.Rule.LocationOf("decrypt"),
                $"rule '{rule.Name}' may decrypt {Display(name)}, which Microsoft's clients pin: token acquisition and image pulls would fail",
                "permit Microsoft platform names in an earlier rule with 'decrypt: not-allowed'"));
            return;
        }
    }

    private static void LintPlatformNamesReachable(PolicyDocument document, CompiledPolicy compiled, GroupRanges groups, List<Diagnostic> diagnostics)
    {
        // Only for policies that target Azure agents: they name Microsoft platform domains or service tags.
        var looksAzure = document.SmartGroups.Any(g => g.ServiceTag is not null) ||
                         document.WebGroups.Any(w => w.Domains.Any(d => ContainerAppsPlatformNames.Any(n => d.Value.Matches(n) || d.Value.Suffix == n)));
        if (!looksAzure) return;
        foreach (var catchAll in compiled.Rules.Where(r => IsCatchAllDeny(r.Rule)))
        {
            var source = RepresentativeSource(catchAll.Rule, groups);
            if (source is null) continue;
            var blocked = new List<string>();
            foreach (var name in ContainerAppsPlatformNames)
            {
                var verdict = compiled.Decide(new Flow { Source = source, Host = name, Port = 443, IsTls = true, AssumePublicIfUnresolved = true });
                if (verdict.Action == RuleAction.Deny && verdict.Rule == catchAll) blocked.Add(Display(name));
            }
            if (blocked.Count > 0)
                diagnostics.Add(new Diagnostic(Severity.Warning, "platform-not-permitted", catchAll.Rule.Location,
                    $"catch-all deny '{catchAll.Name}' blocks Azure Container Apps platform names the agent runtime needs: {string.Join(", ", blocked)}",
                    "permit them in an earlier rule with 'decrypt: not-allowed' (see 'corral init --template azure-foundry')"));
        }
    }

    private static IPAddress? RepresentativeSource(Rule rule, GroupRanges groups)
    {
        if (rule.Source.Count == 0) return IPAddress.Parse("10.0.0.4");
        foreach (var s in rule.Source)
        {
            if (s.Value is PolicyDocument.Anywhere) return IPAddress.Parse("10.0.0.4");
            var prefix = groups.PrefixesOf(s.Value).FirstOrDefault();
            if (prefix.Length > 0 || prefix.Bits != UInt128.Zero) return IpBits.ToAddress(prefix.Bits + (prefix.Last > prefix.First ? UInt128.One : UInt128.Zero), prefix.IsV4);
        }
        return null;
    }

    private static string Display(string sample) =>
        sample.StartsWith("tenant.", StringComparison.Ordinal) || sample.StartsWith("myidentity.", StringComparison.Ordinal) || sample.StartsWith("eastus.", StringComparison.Ordinal)
            ? "*." + sample[(sample.IndexOf('.') + 1)..]
            : sample;

    private static List<DomainPattern> PatternsOf(PolicyDocument document, Rule rule) =>
        rule.WebGroups.Select(w => document.WebGroups.First(g => g.Name == w.Value))
            .SelectMany(g => g.Domains.Select(d => d.Value).Concat(g.Urls.Select(u => u.Value.Host))).ToList();

    private static bool IsBuiltIn(string group) => group is PolicyDocument.Anywhere or PolicyDocument.PublicInternet;

    private static bool CoversPublicInternet(Rule rule) =>
        rule.Destination.Count == 0 || rule.Destination.Any(d => d.Value is PolicyDocument.Anywhere or PolicyDocument.PublicInternet);

    // ---- coverage: does rule `e` match every flow rule `r` would? (conservative: false when unsure) ----

    private static bool Covers(Rule e, Rule r, GroupRanges groups)
    {
        if (e.Protocol != RuleProtocol.Any && e.Protocol != r.Protocol) return false;
        if (e.Ports.Count > 0 && (r.Ports.Count == 0 || !r.Ports.All(p => e.Ports.Any(q => q.Contains(p))))) return false;
        if (e.RequireTls && !r.RequireTls) return false;
        if (!GroupsCover(e.Source, r.Source, groups, rGuardedToPublic: false)) return false;
        var eNamePermit = e.Action == RuleAction.Permit && e.WebGroups.Count > 0;
        var rNamePermit = r.Action == RuleAction.Permit && r.WebGroups.Count > 0;
        if (eNamePermit && !rNamePermit) return false; // the guard lets internal addresses fall through e
        // r opens internal addresses through its own smart groups; e does so only if it names the same groups.
        if (eNamePermit && rNamePermit && r.Destination.Any(d => !IsBuiltIn(d.Value)) &&
            !r.Destination.Where(d => !IsBuiltIn(d.Value)).All(d => e.Destination.Any(x => x.Value == d.Value))) return false;
        // A name permit only ever reaches public addresses, so a public-internet destination covers it.
        if (!GroupsCover(e.Destination, r.Destination, groups, rGuardedToPublic: rNamePermit && r.Destination.Count == 0)) return false;
        if (e.WebGroups.Count == 0) return true;
        if (r.WebGroups.Count == 0) return false;
        var eGroups = e.WebGroups.Select(w => groups.Web(w.Value)).ToList();
        if (eGroups.Any(g => g.Urls.Count > 0)) return false;
        var ePatterns = eGroups.SelectMany(g => g.Domains.Select(d => d.Value)).ToList();
        var rPatterns = r.WebGroups.Select(w => groups.Web(w.Value))
            .SelectMany(g => g.Domains.Select(d => d.Value).Concat(g.Urls.Select(u => u.Value.Host))).ToList();
        return rPatterns.All(p => ePatterns.Any(p.IsCoveredBy));
    }

    private static bool GroupsCover(IReadOnlyList<Located<string>> e, IReadOnlyList<Located<string>> r, GroupRanges groups, bool rGuardedToPublic)
    {
        if (e.Count == 0 || e.Any(g => g.Value == PolicyDocument.Anywhere)) return true;
        var eNames = e.Select(g => g.Value).ToHashSet(StringComparer.Ordinal);
        if (r.Count == 0) return rGuardedToPublic && eNames.Contains(PolicyDocument.PublicInternet);
        foreach (var group in r.Select(g => g.Value))
        {
            if (eNames.Contains(group)) continue;
            if (group == PolicyDocument.Anywhere || groups.HasDomains(group)) return false;
            if (group == PolicyDocument.PublicInternet) return false;
            var prefixes = groups.PrefixesOf(group);
            if (!prefixes.Any()) return false;
            var eRanges = groups.Union(eNames);
            if (!prefixes.All(p => eRanges.Contains(p))) return false;
        }
        return true;
    }

    /// <summary>Each group's prefixes, and merged unions of several groups for containment checks.</summary>
    private sealed class GroupRanges(PolicyDocument document)
    {
        private readonly Dictionary<string, MergedRanges> _unions = new(StringComparer.Ordinal);

        // Enumerated where they are kept, never copied: a threat group can hold millions of prefixes.
        public IEnumerable<IpPrefix> PrefixesOf(string group) =>
            document.SmartGroups.FirstOrDefault(g => g.Name == group)?.AllPrefixes
            ?? document.ThreatGroups.FirstOrDefault(g => g.Name == group)?.AllPrefixes
            ?? [];

        private int PrefixCountOf(string group) =>
            document.SmartGroups.FirstOrDefault(g => g.Name == group) is { } smart ? smart.Cidrs.Count + smart.ServicePrefixes.Count
            : document.ThreatGroups.FirstOrDefault(g => g.Name == group)?.Feeds.Sum(f => f.Prefixes.Count) ?? 0;

        public bool HasDomains(string group) => document.ThreatGroups.FirstOrDefault(g => g.Name == group)?.AllDomains.Any() ?? false;

        public WebGroup Web(string name) => document.WebGroups.First(w => w.Name == name);

        public MergedRanges Union(IEnumerable<string> groups)
        {
            var key = string.Join('\n', groups.Order(StringComparer.Ordinal));
            if (_unions.TryGetValue(key, out var union)) return union;
            var names = key.Split('\n');
            var ranges = new MergedRanges.Builder(names.Sum(PrefixCountOf) + 64);
            foreach (var g in names)
            {
                // Public internet as the complement's ranges directly: cutting them into prefixes costs milliseconds
                // (IPv6), and every reload lints.
                if (g == PolicyDocument.PublicInternet)
                    foreach (var r in IntervalMath.Complement(AddressClasses.NotPublic)) ranges.Add(r.First, r.Last, r.IsV4);
                else
                    foreach (var p in PrefixesOf(g)) ranges.Add(p.First, p.Last, p.IsV4);
            }
            return _unions[key] = ranges.Build();
        }
    }

    /// <summary>
    /// Sorted, merged ranges per family with a binary-search containment test. IPv6 ranges are merged by
    /// <see cref="IntervalMath.Merge"/>. An IPv4 range is one word (first in the high half, last in the low half), so the
    /// union of a million-entry feed costs 8 MB and one primitive sort, not IntervalMath's 48-byte ranges and LINQ sort.
    /// </summary>
    private sealed class MergedRanges
    {
        private readonly ulong[] _v4;
        private readonly IntervalMath.Range[] _v6;

        private MergedRanges(ulong[] v4, IntervalMath.Range[] v6)
        {
            _v4 = v4;
            _v6 = v6;
        }

        public bool Contains(IpPrefix p)
        {
            if (p.IsV4)
            {
                // The last range whose first address is at most p's: ranges are disjoint, so it is the only candidate.
                var at = Array.BinarySearch(_v4, ((ulong)(uint)p.First << 32) | uint.MaxValue);
                if (at < 0) at = ~at - 1;
                return at >= 0 && (uint)(_v4[at] >> 32) <= (uint)p.First && (uint)_v4[at] >= (uint)p.Last;
            }
            int lo = 0, hi = _v6.Length - 1;
            while (lo <= hi)
            {
                var mid = (lo + hi) >>> 1;
                if (_v6[mid].Last < p.First) lo = mid + 1;
                else if (_v6[mid].First > p.First) hi = mid - 1;
                else return _v6[mid].Last >= p.Last;
            }
            return false;
        }

        /// <param name="capacity">The number of ranges expected (IPv4 nearly always), so the list is allocated once.</param>
        public sealed class Builder(int capacity)
        {
            private readonly List<ulong> _v4 = new(capacity);
            private readonly List<IntervalMath.Range> _v6 = [];

            public void Add(UInt128 first, UInt128 last, bool isV4)
            {
                if (isV4) _v4.Add(((ulong)(uint)first << 32) | (uint)last);
                else _v6.Add(new IntervalMath.Range(first, last, IsV4: false));
            }

            public MergedRanges Build()
            {
                var v4 = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_v4);
                v4.Sort(); // by first address, then last; merged in place below
                var count = 0;
                foreach (var range in v4)
                {
                    uint first = (uint)(range >> 32), last = (uint)range;
                    var previousLast = count > 0 ? (uint)v4[count - 1] : 0;
                    if (count > 0 && (previousLast == uint.MaxValue || first <= previousLast + 1))
                    {
                        if (last > previousLast) v4[count - 1] = (v4[count - 1] & 0xFFFF_FFFF_0000_0000UL) | last;
                    }
                    else v4[count++] = range;
                }

                return new MergedRanges(v4[..count].ToArray(), [.. IntervalMath.Merge(_v6)]);
            }
        }
    }
}

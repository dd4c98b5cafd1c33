using System.Buffers;
using System.Security.Cryptography;
using Corral.Policy.Addressing;
using Corral.Policy.Diagnostics;

namespace Corral.Policy.Model;

/// <summary>What a rule does with a flow it matches.</summary>
public enum RuleAction { Permit, Deny }

/// <summary>The transport a rule applies to.</summary>
public enum RuleProtocol { Any, Tcp, Udp, Icmp }

/// <summary>Watch (log what would happen) or enforce.</summary>
public enum RuleMode { Enforce, Watch }

/// <summary>Whether a permitted flow may be decrypted (Aviatrix decrypt_policy).</summary>
public enum DecryptPolicy { NotAllowed, Allowed }

/// <summary>A value with the place in the file it came from.</summary>
public sealed record Located<T>(T Value, SourceLocation Location);

/// <summary>An inclusive port range; a single port has Low == High.</summary>
public readonly record struct PortRange(int Low, int High)
{
    public bool Contains(int port) => port >= Low && port <= High;
    public bool Contains(PortRange other) => other.Low >= Low && other.High <= High;
    public override string ToString() => Low == High ? Low.ToString() : $"{Low}-{High}";
}

/// <summary>A set of addresses: CIDRs written in the policy and/or an Azure service tag.</summary>
/// <param name="ServicePrefixes">The tag's prefixes from the Service Tags file; empty when no file is configured.</param>
/// <param name="ServiceTag">The tag as Microsoft spells it (from the Service Tags file, else Corral's built-in list), where the policy names it.</param>
/// <param name="ServiceTagResolvedName">The tag name actually used (a regional one when the policy pins a region and Microsoft publishes
/// regional ranges for it); from the file, else the built-in list; null when neither knows the tag.</param>
public sealed record SmartGroup(
    string Name,
    SourceLocation Location,
    IReadOnlyList<Located<IpPrefix>> Cidrs,
    Located<string>? ServiceTag,
    string? ServiceTagResolvedName,
    IReadOnlyList<IpPrefix> ServicePrefixes)
{
    public IEnumerable<IpPrefix> AllPrefixes => Cidrs.Select(c => c.Value).Concat(ServicePrefixes);
}

/// <summary>A URL filter <c>host/path</c>, where the path may end in or contain <c>*</c>.</summary>
public sealed record UrlPattern(DomainPattern Host, string PathGlob)
{
    public override string ToString() => Host + PathGlob;
}

/// <summary>An FQDN allowlist (Aviatrix WebGroup): SNI/Host domains and URL filters.</summary>
public sealed record WebGroup(
    string Name,
    SourceLocation Location,
    IReadOnlyList<Located<DomainPattern>> Domains,
    IReadOnlyList<Located<UrlPattern>> Urls);

/// <summary>One feed file of a threat group, already read.</summary>
public sealed record ThreatFeed(string Path, SourceLocation Location, IReadOnlyList<IpPrefix> Prefixes, IReadOnlyList<string> Domains);

/// <summary>Known-bad destinations from feed files: addresses, CIDRs and domains (a domain covers everything below it).</summary>
public sealed record ThreatGroup(string Name, SourceLocation Location, IReadOnlyList<ThreatFeed> Feeds)
{
    public IEnumerable<IpPrefix> AllPrefixes => Feeds.SelectMany(f => f.Prefixes);
    public IEnumerable<string> AllDomains => Feeds.SelectMany(f => f.Domains);
}

/// <summary>Where service tags come from: Microsoft's weekly JSON file, optionally pinned to a region.</summary>
/// <param name="Cloud">The Azure cloud the policy is for (serviceTags.cloud, default Public); the file's own cloud must match it.</param>
public sealed record ServiceTagsSource(string? File, string? Region, SourceLocation Location, string? ChangeNumber, string? Cloud);

/// <summary>One first-match rule.</summary>
public sealed record Rule(
    string Name,
    SourceLocation Location,
    int Priority,
    IReadOnlyList<Located<string>> Source,
    IReadOnlyList<Located<string>> Destination,
    IReadOnlyList<Located<string>> WebGroups,
    RuleAction Action,
    RuleProtocol Protocol,
    IReadOnlyList<PortRange> Ports,
    DecryptPolicy Decrypt,
    RuleMode Mode,
    bool Logging,
    bool RequireTls,
    IReadOnlyDictionary<string, SourceLocation> FieldLocations)
{
    public SourceLocation LocationOf(string field) => FieldLocations.TryGetValue(field, out var l) ? l : Location;

    /// <summary>The rule's MCP section (tools, methods, pinning), or null: only a decrypting permit may have one.</summary>
    public McpRules? Mcp { get; init; }

    /// <summary>
    /// How many bytes of a request body the gateway may hold to inspect it whole on this rule (an MCP JSON-RPC body, a
    /// body with a content coding); null: the gateway's default (1 MiB). Bodies scanned as they stream need no such bound.
    /// </summary>
    public int? MaxBufferedBody { get; init; }

    /// <summary>
    /// <c>websocket: allow</c>: an HTTP/1.1 WebSocket upgrade may go through this rule, its client messages inspected
    /// (only a decrypting permit may have it); false (the default): an upgrade is refused.
    /// </summary>
    public bool WebSocket { get; init; }
}

/// <summary>A loaded, validated policy file with its feeds and service tags read.</summary>
public sealed record PolicyDocument(
    string FilePath,
    int Version,
    string Name,
    RuleAction DefaultAction,
    IReadOnlyList<SmartGroup> SmartGroups,
    IReadOnlyList<WebGroup> WebGroups,
    IReadOnlyList<ThreatGroup> ThreatGroups,
    ServiceTagsSource? ServiceTags,
    IReadOnlyList<Rule> Rules,
    string ContentHash)
{
    /// <summary>Payload inspection of cleartext requests; every built-in pattern unless the policy says otherwise.</summary>
    public InspectionSettings Inspection { get; init; } = InspectionSettings.Default;

    /// <summary>The gateway resolver's treatment of names reachable only by address (watch unless the policy says otherwise).</summary>
    public DnsSettings Dns { get; init; } = DnsSettings.Default;

    /// <summary>The gateway's handling of Encrypted Client Hello on spliced flows (refuse unless the policy says otherwise).</summary>
    public TlsSettings Tls { get; init; } = TlsSettings.Default;

    /// <summary>Secrets the agents never hold: the gateway puts them into decrypted requests to the web groups each is bound to.</summary>
    public IReadOnlyList<Credential> Credentials { get; init; } = [];

    /// <summary>Agents that authenticate to the explicit listener: sources that rules name beside smart groups.</summary>
    public IReadOnlyList<Agent> Agents { get; init; } = [];

    /// <summary>SHA-256 (hex) of every feed and service-tag file in the order read: the inputs part of <see cref="ContentHash"/>.</summary>
    public string InputsDigest { get; init; } = "";

    /// <summary>
    /// The policy's content hash: SHA-256 over SHA-256(the policy file's bytes) followed by <paramref name="inputsDigest"/>.
    /// Split so that an edit of the policy text alone is hashed again without reading the feeds.
    /// </summary>
    public static string ContentHashOf(ReadOnlySpan<byte> policyBytes, string inputsDigest)
    {
        Span<byte> textHash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(policyBytes, textHash);
        return ContentHashFrom(textHash, inputsDigest);
    }

    /// <summary><see cref="ContentHashOf"/> from SHA-256(the policy file's bytes), for a caller that needs that hash too.</summary>
    internal static string ContentHashFrom(ReadOnlySpan<byte> textHash, string inputsDigest)
    {
        Span<byte> both = stackalloc byte[2 * SHA256.HashSizeInBytes];
        textHash.CopyTo(both);
        if (inputsDigest.Length != 2 * SHA256.HashSizeInBytes || Convert.FromHexString(inputsDigest, both[SHA256.HashSizeInBytes..], out _, out _) != OperationStatus.Done)
            throw new ArgumentException("not a SHA-256 hex digest", nameof(inputsDigest));
        return Convert.ToHexStringLower(SHA256.HashData(both));
    }

    /// <summary>Full paths of every file the policy was read from (itself, feeds, service tags): what a reload watches.</summary>
    public IReadOnlyList<string> InputFiles { get; init; } = [];

    public const string Anywhere = "anywhere";
    public const string PublicInternet = "public-internet";
    public static readonly IReadOnlyList<string> BuiltInGroups = [Anywhere, PublicInternet];

    /// <summary>Rules in evaluation order (ascending priority).</summary>
    public IEnumerable<Rule> RulesInOrder => Rules.OrderBy(r => r.Priority);
}

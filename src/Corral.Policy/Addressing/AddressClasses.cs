namespace Corral.Policy.Addressing;

/// <summary>
/// The fixed address classes of the match semantics: what is not "public-internet", and what a hostname
/// permit may never reach (the internal-address guard).
/// </summary>
public static class AddressClasses
{
    private static readonly string[] NotPublicV4 =
        ["0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16", "224.0.0.0/4", "240.0.0.0/4"];

    /// <summary>
    /// Outside the public internet: private, loopback, link-local, CGNAT, ULA, site-local, documentation, unspecified,
    /// multicast, reserved — and the IPv6 forms that embed one of those IPv4 ranges (IPv4-compatible, SIIT, and the
    /// NAT64 and 6to4 images of each IPv4 range above), so an embedded internal address is not "internet".
    /// </summary>
    public static readonly IReadOnlyList<IpPrefix> NotPublic =
        NotPublicV4.Select(P)
            .Concat(new[] { "::/96", "::1/128", "::ffff:0:0:0/96", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8", "2001:db8::/32", "100::/64" }.Select(P))
            .Concat(NotPublicV4.Select(P).SelectMany(Embeddings))
            .ToArray();

    /// <summary>
    /// Internal ranges a rule may open to a name explicitly, by naming them in its own destination smart groups:
    /// private (RFC 1918), CGNAT and ULA — where internal APIs live. Everything else guarded is never reachable by name.
    /// </summary>
    public static readonly IReadOnlyList<IpPrefix> OpenableByExplicitGroup = new[] { "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7" }.Select(P).ToArray();

    /// <summary>
    /// Beyond <see cref="NotPublic"/>, addresses a hostname permit must not authorize: Azure's platform address,
    /// and every IPv6 form that embeds an IPv4 address (NAT64, 6to4, Teredo).
    /// </summary>
    public static readonly IReadOnlyList<IpPrefix> GuardedBeyondNotPublic = new[] { "168.63.129.16/32", "64:ff9b::/96", "64:ff9b:1::/48", "2002::/16", "2001::/32" }.Select(P).ToArray();

    // The NAT64 (64:ff9b::/96) and 6to4 (2002::/16) images of an IPv4 prefix.
    private static IEnumerable<IpPrefix> Embeddings(IpPrefix v4)
    {
        yield return new IpPrefix(((UInt128)0x0064_ff9b << 96) | v4.Bits, (byte)(96 + v4.Length), false);
        yield return new IpPrefix(((UInt128)0x2002 << 112) | (v4.Bits << 80), (byte)(16 + v4.Length), false);
    }

    /// <summary>Why an address is guarded, for explanations.</summary>
    public static string? DescribeGuarded(IpPrefix host)
    {
        foreach (var (prefix, label) in Labels)
            if (prefix.Contains(host)) return label;
        return null;
    }

    private static readonly (IpPrefix, string)[] Labels =
    [
        (P("127.0.0.0/8"), "loopback"), (P("::1/128"), "loopback"),
        (P("10.0.0.0/8"), "private (RFC 1918)"), (P("172.16.0.0/12"), "private (RFC 1918)"), (P("192.168.0.0/16"), "private (RFC 1918)"),
        (P("169.254.169.254/32"), "cloud instance metadata"), (P("169.254.0.0/16"), "link-local"), (P("fe80::/10"), "link-local"),
        (P("100.64.0.0/10"), "carrier-grade NAT"), (P("fc00::/7"), "unique local (ULA)"),
        (P("168.63.129.16/32"), "Azure platform address"),
        (P("224.0.0.0/4"), "multicast"), (P("ff00::/8"), "multicast"),
        (P("0.0.0.0/8"), "unspecified"), (P("::/128"), "unspecified"), (P("240.0.0.0/4"), "reserved"),
        (P("64:ff9b::/96"), "NAT64 (embeds IPv4)"), (P("64:ff9b:1::/48"), "NAT64 (embeds IPv4)"),
        (P("2002::/16"), "6to4 (embeds IPv4)"), (P("2001::/32"), "Teredo (embeds IPv4)"),
        (P("::ffff:0:0:0/96"), "SIIT (embeds IPv4)"), (P("::/96"), "IPv4-compatible IPv6"), (P("100::/64"), "discard-only"),
        (P("fec0::/10"), "site-local"), (P("2001:db8::/32"), "documentation"),
    ];

    private static IpPrefix P(string s) => IpPrefix.TryParse(s, out var p, out var e) ? p : throw new InvalidOperationException(e);
}

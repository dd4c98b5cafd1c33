using System.Net;
using Corral.Policy.Addressing;
using Corral.Policy.Model;

namespace Corral.Replay;

/// <summary>Why a denied destination must not be allowed without a person looking at it.</summary>
[Flags]
public enum NameRisk
{
    None = 0,
    /// <summary>An address, not a name: an allowlist of names cannot hold it, and agents rarely need one.</summary>
    IpLiteral = 1,
    /// <summary>A very long or high-entropy label: data encoded into the name (DNS tunnelling, exfiltration by lookup).</summary>
    EncodedLabel = 2,
    /// <summary>Seen in one flow only: too little evidence that the agent needs it.</summary>
    OneFlowOnly = 4,
    /// <summary>On one of the policy's threat feeds.</summary>
    ThreatFeed = 8,
}

/// <summary>The checks behind <see cref="NameRisk"/>: label shape, and the policy's own threat feeds.</summary>
public sealed class NameRisks(PolicyDocument policy)
{
    /// <summary>Labels longer than this are taken for encoded data (legitimate labels are words, rarely this long).</summary>
    public const int LongLabel = 40;
    /// <summary>
    /// Shannon entropy (bits per character) above which a label of at least <see cref="EntropyMinLength"/> characters
    /// looks random; words joined by hyphens stay near 3.5, base32/base64 chunks reach 4 and more.
    /// </summary>
    public const double HighEntropy = 4.0;
    /// <summary>The lower bar for labels that are a quarter digits or more (hex and base32 encodings).</summary>
    public const double HighEntropyWithDigits = 3.3;
    public const int EntropyMinLength = 16;

    private readonly string[] _threatDomains = policy.ThreatGroups.SelectMany(g => g.AllDomains).ToArray();
    private readonly IpPrefix[] _threatPrefixes = policy.ThreatGroups.SelectMany(g => g.AllPrefixes).ToArray();

    public NameRisk Of(string? host, IReadOnlyCollection<IPAddress> addresses)
    {
        var risk = NameRisk.None;
        if (host is null) risk |= NameRisk.IpLiteral;
        else if (host.Split('.').Any(IsEncoded)) risk |= NameRisk.EncodedLabel;
        if ((host is not null && _threatDomains.Any(d => host == d || host.EndsWith("." + d, StringComparison.Ordinal)))
            || addresses.Any(a => _threatPrefixes.Any(p => p.Contains(a))))
            risk |= NameRisk.ThreatFeed;
        return risk;
    }

    public static bool IsEncoded(string label)
    {
        if (label.Length > LongLabel) return true;
        if (label.Length < EntropyMinLength) return false;
        var entropy = Entropy(label);
        return entropy >= HighEntropy || (entropy >= HighEntropyWithDigits && label.Count(char.IsAsciiDigit) * 4 >= label.Length);
    }

    /// <summary>Shannon entropy of the characters of a label, in bits per character.</summary>
    public static double Entropy(string label)
    {
        Span<int> counts = stackalloc int[128];
        foreach (var c in label) counts[c & 127]++;
        double bits = 0;
        foreach (var n in counts)
        {
            if (n == 0) continue;
            var p = (double)n / label.Length;
            bits -= p * Math.Log2(p);
        }
        return bits;
    }

    public static string Describe(NameRisk risk) => string.Join("; ", new[]
    {
        (risk & NameRisk.ThreatFeed) != 0 ? "on a threat feed" : null,
        (risk & NameRisk.IpLiteral) != 0 ? "an IP address, not a name" : null,
        (risk & NameRisk.EncodedLabel) != 0 ? "a very long or high-entropy label (encoded data?)" : null,
        (risk & NameRisk.OneFlowOnly) != 0 ? "seen in one flow only" : null,
    }.Where(s => s is not null));
}

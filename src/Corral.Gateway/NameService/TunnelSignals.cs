using System.Collections.Concurrent;
using System.Net;

namespace Corral.Gateway.NameService;

/// <summary>
/// Flags query names that look like data rather than names, the signal of DNS tunnelling: a long label, a high-entropy
/// subdomain, or many distinct subdomains under one domain from one source within a window. Flags are recorded and
/// counted; they do not decide (the policy does). Memory is bounded: at most <see cref="MaxTracked"/> (source, domain)
/// pairs, each holding at most <see cref="UniqueThreshold"/> subdomain hashes, all forgotten when the window turns.
/// </summary>
public sealed class TunnelSignals(TimeProvider? time = null)
{
    public const int LongLabel = 40;
    /// <summary>Bits per character above which a subdomain of at least <see cref="EntropyMinLength"/> characters is flagged (hex is 4, base32 5).</summary>
    public const double EntropyBits = 3.6;
    public const int EntropyMinLength = 20;
    public const int UniqueThreshold = 50;
    public const int MaxTracked = 8192;
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(5);

    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly object _turn = new();
    private ConcurrentDictionary<(IPAddress, string), HashSet<int>> _seen = new();
    private long _windowStarted = (time ?? TimeProvider.System).GetTimestamp();

    /// <summary>The flags of one query (empty for most names; allocation-free then).</summary>
    public IReadOnlyList<string> Inspect(IPAddress source, string name)
    {
        var (subdomain, domain) = Split(name);
        if (subdomain.Length == 0) return [];
        List<string>? flags = null;
        if (LongestLabel(subdomain) >= LongLabel) (flags ??= []).Add("long-label");
        if (subdomain.Length >= EntropyMinLength && Entropy(subdomain) >= EntropyBits) (flags ??= []).Add("high-entropy");
        if (CountUnique(source, domain, subdomain) > UniqueThreshold) (flags ??= []).Add("many-subdomains");
        return flags is null ? [] : flags;
    }

    /// <summary>
    /// The registrable-looking domain (the last two labels; no public-suffix list, so <c>co.uk</c> names group under
    /// <c>co.uk</c>, which only makes the unique count stricter) and what is below it.
    /// </summary>
    internal static (string Subdomain, string Domain) Split(string name)
    {
        var last = name.LastIndexOf('.');
        if (last <= 0) return ("", name);
        var second = name.LastIndexOf('.', last - 1);
        return second < 0 ? ("", name) : (name[..second], name[(second + 1)..]);
    }

    private static int LongestLabel(string name)
    {
        var longest = 0;
        foreach (var range in name.AsSpan().Split('.')) longest = Math.Max(longest, range.End.Value - range.Start.Value);
        return longest;
    }

    /// <summary>Shannon entropy in bits per character, over the characters other than dots.</summary>
    internal static double Entropy(string text)
    {
        Span<int> counts = stackalloc int[128];
        var total = 0;
        foreach (var c in text)
            if (c != '.' && c < 128) { counts[c]++; total++; }
        var bits = 0.0;
        foreach (var n in counts)
            if (n > 0) { var p = (double)n / total; bits -= p * Math.Log2(p); }
        return bits;
    }

    private int CountUnique(IPAddress source, string domain, string subdomain)
    {
        TurnWindowIfDue();
        var seen = _seen;
        if (!seen.TryGetValue((source, domain), out var set))
        {
            if (seen.Count >= MaxTracked) return 0; // full: new pairs are not tracked until the window turns
            set = seen.GetOrAdd((source, domain), _ => []);
        }
        lock (set)
        {
            if (set.Count <= UniqueThreshold) set.Add(StringComparer.Ordinal.GetHashCode(subdomain));
            return set.Count;
        }
    }

    private void TurnWindowIfDue()
    {
        if (_time.GetElapsedTime(Volatile.Read(ref _windowStarted)) < Window) return;
        lock (_turn)
        {
            if (_time.GetElapsedTime(_windowStarted) < Window) return;
            Volatile.Write(ref _seen, new ConcurrentDictionary<(IPAddress, string), HashSet<int>>());
            Volatile.Write(ref _windowStarted, _time.GetTimestamp());
        }
    }
}

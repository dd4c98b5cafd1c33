using Corral.Policy.Addressing;

namespace Corral.Replay;

/// <summary>
/// Mozilla's Public Suffix List: which part of a name anyone can register under (<c>co.uk</c>, <c>github.io</c>,
/// <c>blob.core.windows.net</c>), so that names are collapsed to a wildcard only below a domain one party owns.
/// Read from Debian's <c>publicsuffix</c> package when installed (it is kept current), otherwise from the copy this
/// assembly ships; nothing is downloaded.
/// </summary>
public sealed class PublicSuffixList
{
    public const string SystemPath = "/usr/share/publicsuffix/public_suffix_list.dat";

    private readonly HashSet<string> _rules = new(StringComparer.Ordinal);
    private readonly HashSet<string> _wildcards = new(StringComparer.Ordinal); // "*.ck" stored as "ck"
    private readonly HashSet<string> _exceptions = new(StringComparer.Ordinal); // "!www.ck" stored as "www.ck"

    /// <summary>Where the list was read from, for reports.</summary>
    public string Source { get; }

    private PublicSuffixList(string source, TextReader text)
    {
        Source = source;
        while (text.ReadLine() is { } line)
        {
            var rule = line.Trim();
            var space = rule.IndexOfAny([' ', '\t']);
            if (space >= 0) rule = rule[..space];
            if (rule.Length == 0 || rule.StartsWith("//", StringComparison.Ordinal)) continue;
            var set = _rules;
            if (rule.StartsWith("!", StringComparison.Ordinal)) (set, rule) = (_exceptions, rule[1..]);
            else if (rule.StartsWith("*.", StringComparison.Ordinal)) (set, rule) = (_wildcards, rule[2..]);
            if (HostName.TryNormalize(rule, out var normalized, out _)) set.Add(normalized); // IDN rules as punycode, like the names they meet
        }
    }

    /// <summary>The system list when installed, else the shipped copy.</summary>
    public static PublicSuffixList Load()
    {
        if (File.Exists(SystemPath))
        {
            using var file = new StreamReader(SystemPath);
            return new PublicSuffixList(SystemPath, file);
        }
        using var shipped = typeof(PublicSuffixList).Assembly.GetManifestResourceStream("Corral.Replay.public_suffix_list.dat")
            ?? throw new InvalidOperationException("the shipped public suffix list is missing from the assembly");
        using var reader = new StreamReader(shipped);
        return new PublicSuffixList("the copy shipped with Corral (Debian publicsuffix 20230209)", reader);
    }

    /// <summary>Reads a list from text (for tests).</summary>
    public static PublicSuffixList Parse(string source, string text) => new(source, new StringReader(text));

    /// <summary>
    /// The public suffix of a normalized name: the longest matching rule, exceptions first, and the implicit rule
    /// <c>*</c> (the last label) when none matches.
    /// </summary>
    public string PublicSuffix(string host)
    {
        var labels = host.Split('.');
        for (var i = 0; i < labels.Length; i++)
        {
            var candidate = string.Join('.', labels, i, labels.Length - i);
            if (_exceptions.Contains(candidate)) return string.Join('.', labels, i + 1, labels.Length - i - 1);
            if (_rules.Contains(candidate)) return candidate;
            if (i + 1 < labels.Length && _wildcards.Contains(string.Join('.', labels, i + 1, labels.Length - i - 1))) return candidate;
        }
        return labels[^1];
    }

    /// <summary>The registrable domain (public suffix plus one label), or null when the name is itself a public suffix.</summary>
    public string? RegistrableDomain(string host)
    {
        var suffix = PublicSuffix(host);
        if (suffix.Length >= host.Length) return null;
        var rest = host[..(host.Length - suffix.Length - 1)];
        return rest[(rest.LastIndexOf('.') + 1)..] + "." + suffix;
    }
}

using Corral.Policy.Addressing;
using Corral.Policy.Model;

namespace Corral.Policy.Compilation;

/// <summary>A credential with the destinations it is bound to, compiled: the web groups' domains and URL filters.</summary>
public sealed class CompiledCredential
{
    private readonly DomainPattern[] _domains;
    private readonly UrlPattern[] _urls;

    internal CompiledCredential(Credential credential, IReadOnlyList<WebGroup> groups)
    {
        Credential = credential;
        _domains = groups.SelectMany(g => g.Domains).Select(d => d.Value).ToArray();
        _urls = groups.SelectMany(g => g.Urls).Select(u => u.Value).ToArray();
    }

    public Credential Credential { get; }
    public string Name => Credential.Name;
    public string Placeholder => Credential.Placeholder;
    public CredentialPlacement Placement => Credential.Placement;

    /// <summary>
    /// Whether the credential may go to this host and request target: a domain of its web groups, or a URL filter of
    /// them that the normalized path matches (a target that cannot be normalized matches none, as for the rules).
    /// </summary>
    public bool IsBoundTo(string host, string? target)
    {
        foreach (var domain in _domains)
            if (domain.Matches(host)) return true;
        if (_urls.Length == 0 || target is null || !UrlPath.TryNormalize(target, out var path, out _)) return false;
        foreach (var url in _urls)
            if (url.Host.Matches(host) && UrlPath.GlobMatches(url.PathGlob, path)) return true;
        return false;
    }
}

/// <summary>
/// A policy's credentials, compiled: which placeholder stands for which credential and where each may go. The values are
/// not here; the gateway reads them from their sources when it puts one into a request.
/// </summary>
public sealed class CompiledCredentials
{
    public static readonly CompiledCredentials None = new([], []);

    private readonly CompiledCredential[] _all;

    public CompiledCredentials(IReadOnlyList<Credential> credentials, IReadOnlyList<WebGroup> webGroups)
    {
        var groups = webGroups.ToDictionary(g => g.Name, StringComparer.Ordinal);
        _all = credentials.Select(c => new CompiledCredential(c, c.Destinations.Select(d => groups[d.Value]).ToArray())).ToArray();
    }

    public IReadOnlyList<CompiledCredential> All => _all;
    public bool IsEmpty => _all.Length == 0;

    /// <summary>The first credential whose placeholder <paramref name="text"/> holds (letters in any case), or null.</summary>
    public CompiledCredential? FindIn(ReadOnlySpan<char> text)
    {
        foreach (var credential in _all)
            if (text.Contains(credential.Placeholder, StringComparison.OrdinalIgnoreCase)) return credential;
        return null;
    }

    /// <summary>
    /// The inspection settings with one pattern per placeholder, so that payload inspection finds a placeholder in a
    /// body and in every encoded form it decodes (base64, percent, JSON escapes): the placeholder anywhere but its place
    /// is an exfiltration attempt (<see cref="ByPattern"/> tells such a finding apart).
    /// </summary>
    public InspectionSettings WithPlaceholderPatterns(InspectionSettings settings) => IsEmpty ? settings
        : settings with { Custom = [.. settings.Custom, .. _all.Select(c => new SecretPattern(PatternName(c), "(?i)" + System.Text.RegularExpressions.Regex.Escape(c.Placeholder), c.Credential.Location))] };

    /// <summary>The credential whose placeholder pattern this is, or null for any other pattern.</summary>
    public CompiledCredential? ByPattern(string pattern) => _all.FirstOrDefault(c => PatternName(c) == pattern);

    private static string PatternName(CompiledCredential credential) => $"the placeholder of credential {credential.Name}";

    /// <summary>The credentials bound to this host and target, in policy order: what <c>explain</c> says a request would carry.</summary>
    public IEnumerable<CompiledCredential> BoundTo(string host, string? target) => _all.Where(c => c.IsBoundTo(host, target));
}

using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using Corral.Policy.Loading;

namespace Corral.Policy.Editing;

/// <summary>
/// The place of one rule's <c>mode</c> in its policy text, in characters of the text as read (a BOM counts): the
/// value to replace, or where a <c>mode</c> entry goes when the rule has none.
/// </summary>
/// <param name="Start">Start of the mode's value, or the insertion point (just after the rule's name).</param>
/// <param name="End">End of the mode's value (exclusive); equal to <paramref name="Start"/> when there is no mode entry.</param>
/// <param name="InsertPrefix">What goes before the mode word when there is no entry: <c>", mode: "</c> in a flow
/// mapping, a new line at the rule's indentation otherwise; null when the rule has a mode entry.</param>
public sealed record RuleModeSite(int Start, int End, string? InsertPrefix);

/// <summary>
/// Where each rule's <c>mode</c> is written in one policy text, by rule name: recorded by the loader as it reads the
/// rules (or by the editor's own parse), so that a promotion edits that text with a splice instead of a parse. Bound
/// to the text by its SHA-256: sites are used only for the very bytes they were found in.
/// </summary>
public sealed class RuleModeSites
{
    private readonly byte[] _textHash;
    private readonly Dictionary<string, RuleModeSite> _byRule;

    /// <summary>No sites: of no text.</summary>
    public static RuleModeSites None { get; } = new([], new Dictionary<string, RuleModeSite>(StringComparer.Ordinal));

    private RuleModeSites(byte[] textHash, Dictionary<string, RuleModeSite> byRule) => (_textHash, _byRule) = (textHash, byRule);

    /// <summary>Whether these are the sites of <paramref name="text"/> (its UTF-8 bytes, a BOM included).</summary>
    public bool AreOf(ReadOnlySpan<byte> text)
    {
        if (_textHash.Length == 0) return false;
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(text, hash);
        return hash.SequenceEqual(_textHash);
    }

    public bool TryGet(string rule, [NotNullWhen(true)] out RuleModeSite? site) => _byRule.TryGetValue(rule, out site);

    /// <summary>Collects the sites of one text while its rules are read; the first rule of a name wins, as the parse's lookup does.</summary>
    internal sealed class Builder(int bom)
    {
        private readonly Dictionary<string, RuleModeSite> _byRule = new(StringComparer.Ordinal);

        public void Add(string rule, YMapping body)
        {
            if (PolicyEditor.SiteOf(body, bom) is { } site) _byRule.TryAdd(rule, site);
        }

        /// <param name="textHash">SHA-256 of the text's bytes.</param>
        public RuleModeSites Build(byte[] textHash) => new(textHash, _byRule);
    }
}

using System.Security.Cryptography;
using System.Text;
using Corral.Policy.Diagnostics;
using Corral.Policy.Loading;
using Corral.Policy.Model;

namespace Corral.Policy.Editing;

/// <summary>
/// Small edits to a policy file's text that keep everything else as written (comments, order, layout), so a change
/// made at run time — promoting a rule from watch to enforce — can be written back and the file stays the source of truth.
/// </summary>
public static class PolicyEditor
{
    /// <summary>Sets one rule's <c>mode</c>. Returns the new text (the same text when nothing changes), or an error.</summary>
    public static (string? Text, string? Error) SetRuleMode(string displayPath, string text, string ruleName, RuleMode mode)
    {
        var (sites, error) = SitesOf(displayPath, text);
        return sites is null ? (null, error) : SetRuleMode(displayPath, text, sites, ruleName, mode);
    }

    /// <summary>Sets one rule's <c>mode</c> at its place in <paramref name="sites"/>, which must be the sites of <paramref name="text"/>.</summary>
    internal static (string? Text, string? Error) SetRuleMode(string displayPath, string text, RuleModeSites sites, string ruleName, RuleMode mode) =>
        sites.TryGet(ruleName, out var site) ? (SetRuleMode(text, site, mode), null) : (null, $"{displayPath} has no rule named '{ruleName}'");

    /// <summary>Parses <paramref name="text"/> for the place of every rule's mode: what the loader records, for a text it did not load.</summary>
    public static (RuleModeSites? Sites, string? Error) SitesOf(string displayPath, string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var diagnostics = new DiagnosticBag();
        var root = YamlTree.Read(displayPath, bytes, diagnostics);
        if (diagnostics.HasErrors || root is not YMapping top) return (null, $"{displayPath} does not parse as a policy");
        var sites = new RuleModeSites.Builder(BomLength(text));
        if (Value(top, "rules") is YSequence rules)
            foreach (var rule in rules.Items.OfType<YMapping>())
                if (Value(rule, "name") is YScalar name) sites.Add(name.Value, rule);
        return (sites.Build(SHA256.HashData(bytes)), null);
    }

    /// <summary>
    /// Sets one rule's <c>mode</c> at a place the loader recorded (<see cref="LoadResult.ModeSites"/>) in exactly this
    /// <paramref name="text"/>: no parse, so a promotion costs a string splice.
    /// </summary>
    public static string SetRuleMode(string text, RuleModeSite site, RuleMode mode)
    {
        var word = Word(mode);
        if (site.InsertPrefix is null) return Splice(text, site.Start, site.End, word);
        return mode == RuleMode.Enforce ? text : Splice(text, site.Start, site.Start, site.InsertPrefix + word); // enforce is the default
    }

    /// <summary>
    /// Whether <paramref name="after"/> is <paramref name="before"/> with exactly one rule's mode set the way
    /// <see cref="SetRuleMode(string, RuleModeSite, RuleMode)"/> writes it (a promotion made in an editor or by git);
    /// <paramref name="rules"/> are the rules loaded from <paramref name="before"/> and <paramref name="sites"/> their places in it.
    /// </summary>
    public static bool TryFindModeChange(string before, IReadOnlyList<Rule> rules, RuleModeSites sites, string after, out string ruleName, out RuleMode mode)
    {
        foreach (var rule in rules)
        {
            if (!sites.TryGet(rule.Name, out var site) || site.End > before.Length) continue; // not this text's rules: no match, never a throw
            var to = rule.Mode == RuleMode.Watch ? RuleMode.Enforce : RuleMode.Watch;
            var inserted = site.InsertPrefix is null ? Word(to) : to == RuleMode.Watch ? site.InsertPrefix + Word(to) : "";
            if (site.InsertPrefix is not null && inserted.Length == 0) continue; // no entry and enforce: nothing to write
            // Compared in place: the edited text is never built for the rules it is not.
            if (after.Length != before.Length - (site.End - site.Start) + inserted.Length) continue;
            var afterEdit = site.Start + inserted.Length;
            if (after.AsSpan(0, site.Start).SequenceEqual(before.AsSpan(0, site.Start))
                && after.AsSpan(site.Start, inserted.Length).SequenceEqual(inserted)
                && after.AsSpan(afterEdit).SequenceEqual(before.AsSpan(site.End)))
            {
                (ruleName, mode) = (rule.Name, to);
                return true;
            }
        }
        (ruleName, mode) = ("", default);
        return false;
    }

    /// <summary>
    /// Adds names (or <c>*.domain</c> wildcards) to the end of one web group's <c>domains</c> list, in the list's own
    /// style (<c>[a, b]</c> or one <c>- name</c> a line), leaving every other character as written. Names the list
    /// already holds are not added twice. Returns the new text, or an error.
    /// </summary>
    public static (string? Text, string? Error) AddWebGroupDomains(string displayPath, string text, string groupName, IReadOnlyList<string> domains)
    {
        var diagnostics = new DiagnosticBag();
        var root = YamlTree.Read(displayPath, Encoding.UTF8.GetBytes(text), diagnostics);
        if (diagnostics.HasErrors || root is not YMapping top) return (null, $"{displayPath} does not parse as a policy");
        if (Value(top, "webGroups") is not YMapping groups || Value(groups, groupName) is not YMapping group)
            return (null, $"{displayPath} has no web group named '{groupName}'");
        if (Value(group, "domains") is not YSequence list)
            return (null, $"{displayPath}: web group '{groupName}' has no domains list to add to; add 'domains: []' to it first");
        var present = list.Items.OfType<YScalar>().Select(i => i.Value).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var added = domains.Where(d => present.Add(d)).ToList();
        if (added.Count == 0) return (text, null);
        var bom = BomLength(text);
        var isFlow = text[bom + list.StartIndex] == '[';
        if (isFlow)
        {
            var close = text.LastIndexOf(']', Math.Min(text.Length - 1, bom + list.EndIndex)); // the parser's end mark is at or just past it
            var items = string.Join(", ", added.Select(QuoteIfNeeded));
            return (Splice(text, close, close, (list.Items.Count > 0 ? ", " : "") + items), null);
        }
        // Block style: new lines after the last item's line (after any comment on it), with that line's "  - " prefix.
        var last = list.Items[^1];
        var itemStart = bom + last.StartIndex;
        var lineStart = text.LastIndexOf('\n', Math.Max(0, itemStart - 1)) + 1;
        var prefix = text[lineStart..itemStart];
        var lineEnd = text.IndexOf('\n', bom + last.EndIndex);
        if (lineEnd < 0) lineEnd = text.Length;
        var lines = string.Concat(added.Select(d => "\n" + prefix + QuoteIfNeeded(d)));
        return (Splice(text, lineEnd, lineEnd, lines), null);
    }

    // A plain YAML scalar cannot start with '*' (an alias); quote wildcards as the templates do.
    private static string QuoteIfNeeded(string domain) => domain.StartsWith('*') ? $"\"{domain}\"" : domain;

    /// <summary>Where a rule's mode is written in the text its tree was read from; <paramref name="bom"/> is 1 when that text starts with a BOM.</summary>
    internal static RuleModeSite? SiteOf(YMapping rule, int bom)
    {
        if (Value(rule, "mode") is YScalar existing) return new RuleModeSite(bom + existing.StartIndex, bom + existing.EndIndex, null);
        if (Value(rule, "name") is not YScalar name) return null;
        var nameKey = rule.Entries.First(e => e.Key.Value == "name").Key;
        var prefix = rule.IsFlow ? ", mode: " : $"\n{new string(' ', nameKey.Location.Column - 1)}mode: ";
        return new RuleModeSite(bom + name.EndIndex, bom + name.EndIndex, prefix);
    }

    internal static int BomLength(string text) => text.Length > 0 && text[0] == '\uFEFF' ? 1 : 0;

    private static string Word(RuleMode mode) => mode == RuleMode.Watch ? "watch" : "enforce";

    private static YNode? Value(YMapping map, string key) => map.Entries.FirstOrDefault(e => e.Key.Value == key).Value;

    private static string Splice(string text, int start, int end, string replacement) =>
        string.Concat(text.AsSpan(0, start), replacement, text.AsSpan(end));
}

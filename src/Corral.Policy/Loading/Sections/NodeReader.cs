using Corral.Policy.Diagnostics;

namespace Corral.Policy.Loading.Sections;

/// <summary>
/// What every section reader does with YAML nodes: read a value of the expected shape or report, at the node's
/// FILE:LINE:COL, what is wrong with it. One per load: the diagnostics and the budget of "did you mean" hints are shared
/// by every section, in the order they are read.
/// </summary>
internal sealed class NodeReader(DiagnosticBag diagnostics)
{
    private const int MaxHints = 100;
    private int _hints;

    public DiagnosticBag Diagnostics => diagnostics;

    /// <summary>"Did you mean" for the first hundred mistakes; past that, a file of typos would make suggestions the slow part.</summary>
    public string? Hint(string input, IEnumerable<string> candidates) =>
        ++_hints <= MaxHints ? Suggest.DidYouMean(input, candidates) : null;

    public void Error(string code, YNode at, string message, string? hint = null) => diagnostics.Error(code, at.Location, message, hint);

    public void Error(string code, SourceLocation at, string message, string? hint = null) => diagnostics.Error(code, at, message, hint);

    public void Warning(string code, SourceLocation at, string message, string? hint = null) => diagnostics.Warning(code, at, message, hint);

    /// <summary>One of <paramref name="words"/>, spelled exactly; otherwise an error (with the nearest word) and null.</summary>
    public T? Enum<T>(YNode node, string field, (string Word, T Value)[] words) where T : struct
    {
        var text = node is YScalar s ? s.Value : null;
        foreach (var (word, value) in words)
            if (string.Equals(text, word, StringComparison.Ordinal)) return value;
        var choices = string.Join(" | ", words.Select(w => w.Word));
        var hint = text is null ? null : Hint(text, words.Select(w => w.Word));
        Error("bad-value", node, $"'{field}' must be {choices}, not '{ScalarText(node)}'", hint);
        return null;
    }

    public bool? Bool(YNode node, string field)
    {
        if (node is YScalar { Value: "true" }) return true;
        if (node is YScalar { Value: "false" }) return false;
        Error("bad-value", node, $"'{field}' must be true or false, not '{ScalarText(node)}'");
        return null;
    }

    public string? String(YNode node, string what)
    {
        if (node is YScalar { IsNull: false } s) return s.Value;
        Error("bad-type", node, $"expected {what} as a single value");
        return null;
    }

    /// <summary>A list field; a single scalar is read as a list of one, a null as empty.</summary>
    public IReadOnlyList<YNode> List(YNode? node, string field)
    {
        switch (node)
        {
            case null or YScalar { IsNull: true }: return [];
            case YSequence seq: return seq.Items;
            case YScalar scalar: return [scalar];
            default:
                Error("bad-type", node, $"'{field}' is a list");
                return [];
        }
    }

    /// <summary>An optional section that is a mapping with known keys: null when absent, null (and an error) when not a mapping.</summary>
    public YMapping? Section(YNode? node, string name, string[] keys, string example)
    {
        if (node is null || node is YScalar { IsNull: true }) return null;
        if (node is not YMapping map)
        {
            Error("bad-type", node, $"'{name}' is a mapping", example);
            return null;
        }
        CheckKeys(map, keys, name);
        return map;
    }

    public void CheckKeys(YMapping map, string[] known, string what)
    {
        foreach (var (key, _) in map.Entries)
        {
            if (known.Contains(key.Value)) continue;
            Error("unknown-key", key, $"unknown key '{key.Value}' in {what}",
                Hint(key.Value, known) ?? $"expected one of: {string.Join(", ", known)}");
        }
    }

    public static bool TryInt(YNode node, out int value)
    {
        value = 0;
        return node is YScalar { IsPlain: true } s && int.TryParse(s.Value, System.Globalization.NumberStyles.AllowLeadingSign, null, out value);
    }

    public static YNode? Get(YMapping map, string key)
    {
        foreach (var (k, v) in map.Entries) if (k.Value == key) return v;
        return null;
    }

    public static bool Has(YMapping map, string key) => Get(map, key) is not null;

    /// <summary>A node as an error message quotes it.</summary>
    public static string ScalarText(YNode node) => node switch
    {
        YScalar s => s.Value,
        YSequence => "a list",
        _ => "a mapping",
    };
}

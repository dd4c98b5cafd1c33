namespace Corral.Policy.Inspection;

/// <summary>
/// Shannon entropy of an assigned value, in bits per character: what keeps a generic <c>token=</c> pattern from
/// denying placeholders, words and repeated characters (gitleaks' generic rule uses the same measure).
/// </summary>
internal static class SecretEntropy
{
    /// <summary>The entropy of the value in an assignment match (after the name's <c>=</c> or <c>:</c>, quotes and spaces trimmed); 0 when the value has no digit or no letter.</summary>
    public static double OfAssignedValue(ReadOnlySpan<char> match)
    {
        var at = match.IndexOfAny('=', ':');
        return Of((at < 0 ? match : match[(at + 1)..]).TrimStart("=:> \t\"'").TrimEnd(" \t\"'"));
    }

    public static double Of(ReadOnlySpan<char> value)
    {
        if (value.IsEmpty || value.IndexOfAnyInRange('0', '9') < 0 || (value.IndexOfAnyInRange('a', 'z') < 0 && value.IndexOfAnyInRange('A', 'Z') < 0))
            return 0;
        var counts = new Dictionary<char, int>();
        foreach (var c in value) counts[c] = counts.GetValueOrDefault(c) + 1;
        var entropy = 0.0;
        foreach (var n in counts.Values)
        {
            var p = (double)n / value.Length;
            entropy -= p * Math.Log2(p);
        }
        return entropy;
    }
}

namespace Corral.Policy.Diagnostics;

/// <summary>"Did you mean …?" for typos in keys and names.</summary>
public static class Suggest
{
    /// <summary>The closest candidate within an edit distance that still reads as a typo, or null.</summary>
    public static string? Closest(string input, IEnumerable<string> candidates)
    {
        string? best = null;
        var allowed = Math.Max(2, input.Length / 3);
        var bestDistance = allowed + 1;
        var lowered = input.ToLowerInvariant();
        var examined = 0;
        foreach (var candidate in candidates)
        {
            // Bounded work on hostile input: only names of a similar length, and at most 10,000 of them.
            if (Math.Abs(candidate.Length - input.Length) > allowed || candidate.Length > 256) continue;
            if (++examined > 10_000) break;
            var d = Distance(lowered, candidate.ToLowerInvariant());
            if (d < bestDistance) { bestDistance = d; best = candidate; }
        }
        return best;
    }

    public static string? DidYouMean(string input, IEnumerable<string> candidates) =>
        Closest(input, candidates) is { } c ? $"did you mean '{c}'?" : null;

    private static int Distance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++) previous[j] = j;
        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }
}

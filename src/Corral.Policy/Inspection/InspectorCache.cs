using Corral.Policy.Model;

namespace Corral.Policy.Inspection;

/// <summary>
/// Lets a policy compile reuse the regexes of the inspector compiled last (<see cref="Compilation.CompileOptions.Inspectors"/>):
/// a reload that leaves the patterns as they were (a promotion, a feed update) keeps the inspector already built, one
/// that changes them builds a new one. Holds only the last inspector; safe to share between threads.
/// </summary>
public sealed class InspectorCache(PayloadInspector? last = null)
{
    private sealed record Entry(string Key, PayloadInspector Inspector);

    private Entry? _last = last is null ? null : new Entry(KeyOf(last.Settings), last);

    /// <summary>The inspector for <paramref name="settings"/>: the last one when its patterns are the same, else a new one (remembered).</summary>
    public PayloadInspector For(InspectionSettings settings)
    {
        var cached = Volatile.Read(ref _last);
        if (cached is not null && ReferenceEquals(cached.Inspector.Settings, settings)) return cached.Inspector;
        var key = KeyOf(settings);
        if (cached is not null && cached.Key == key) return cached.Inspector;
        var next = new Entry(key, new PayloadInspector(settings));
        Volatile.Write(ref _last, next);
        return next.Inspector;
    }

    private static string KeyOf(InspectionSettings settings) =>
        $"{settings.ScanAuthorizationHeader}\n{string.Join("\n", settings.BuiltIns)}\n{string.Join("\n", settings.Custom.Select(c => $"{c.Name}\0{c.Regex}"))}";
}

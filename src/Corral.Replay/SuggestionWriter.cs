using System.Text.Json;

namespace Corral.Replay;

/// <summary>Writes a <see cref="Suggestion"/> as a YAML snippet to paste (with the evidence as comments) or as JSON.</summary>
public static class SuggestionWriter
{
    public static void WriteYaml(TextWriter o, Suggestion s)
    {
        var by = s.Rule is null ? "any deny rule or the default action" : $"rule '{s.Rule}'";
        o.WriteLine($"# corral suggest: {s.RecordsSelected} of {s.RecordsRead} recorded decisions were denied by {by} (or would have been, in watch mode).");
        o.WriteLine($"# {s.Entries.Count} entr{(s.Entries.Count == 1 ? "y" : "ies")} proposed for web group '{s.WebGroup}'; wildcards only for siblings with one parent, below a public suffix ({s.PublicSuffixSource}).");
        if (s.Entries.Count > 0)
        {
            o.WriteLine("webGroups:");
            o.WriteLine($"  {s.WebGroup}:");
            o.WriteLine("    domains:");
            var width = s.Entries.Max(e => Quote(e.Domain).Length) + 8;
            foreach (var e in s.Entries)
                o.WriteLine($"{("      - " + Quote(e.Domain)).PadRight(width)}  # {Evidence(e)}");
        }
        if (s.HeldBack.Count > 0)
        {
            o.WriteLine("# Held back: look at each of these before allowing it (never added by --write):");
            var width = s.HeldBack.Max(d => d.Name.Length);
            foreach (var d in s.HeldBack)
                o.WriteLine($"#   {d.Name.PadRight(width)}  {NameRisks.Describe(d.Risk)}; {d.Flows} flow(s), {d.Records} record(s), {Seen(d.FirstSeen, d.LastSeen)}, from {string.Join(", ", d.SourceGroups)}");
        }
        if (s.NamesNotTracked > 0) o.WriteLine($"# {s.NamesNotTracked} record(s) to names past the first {Suggester.MaxNames} were not tracked.");
        if (s.Malformed.Count > 0)
        {
            o.WriteLine($"# {s.Malformed.Count} malformed line(s) skipped, first at {s.Malformed.First[0].Origin}.");
        }
    }

    private static string Evidence(ProposedEntry e)
    {
        var names = e.Covers.Count > 1 || e.Covers[0].Name != e.Domain
            ? $"{e.Covers.Count} names ({string.Join(", ", e.Covers.Take(4).Select(c => c.Name))}{(e.Covers.Count > 4 ? ", …" : "")}), "
            : "";
        return $"{names}{e.Flows} flows, {e.Records} records, {Seen(e.FirstSeen, e.LastSeen)}, from {string.Join(", ", e.SourceGroups)}";
    }

    private static string Seen(DateTimeOffset first, DateTimeOffset last) => $"first {Time(first)}, last {Time(last)}";

    private static string Time(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd HH:mm'Z'");

    private static string Quote(string domain) => domain.StartsWith('*') ? $"\"{domain}\"" : domain;

    public static void WriteJson(Utf8JsonWriter w, Suggestion s)
    {
        w.WriteStartObject();
        if (s.Rule is null) w.WriteNull("rule"); else w.WriteString("rule", s.Rule);
        w.WriteString("web_group", s.WebGroup);
        w.WriteNumber("records", s.RecordsRead);
        w.WriteNumber("selected", s.RecordsSelected);
        w.WriteString("public_suffixes", s.PublicSuffixSource);
        w.WriteStartArray("entries");
        foreach (var e in s.Entries)
        {
            w.WriteStartObject();
            w.WriteString("domain", e.Domain);
            w.WriteNumber("flows", e.Flows);
            w.WriteNumber("records", e.Records);
            w.WriteString("first_seen", e.FirstSeen.UtcDateTime.ToString("O"));
            w.WriteString("last_seen", e.LastSeen.UtcDateTime.ToString("O"));
            WriteStrings(w, "source_groups", e.SourceGroups);
            WriteStrings(w, "names", e.Covers.Select(c => c.Name));
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("held_back");
        foreach (var d in s.HeldBack)
        {
            w.WriteStartObject();
            w.WriteString("name", d.Name);
            WriteStrings(w, "flags", Enum.GetValues<NameRisk>().Where(r => r != NameRisk.None && (d.Risk & r) != 0).Select(Flag));
            w.WriteString("why", NameRisks.Describe(d.Risk));
            w.WriteNumber("flows", d.Flows);
            w.WriteNumber("records", d.Records);
            w.WriteString("first_seen", d.FirstSeen.UtcDateTime.ToString("O"));
            w.WriteString("last_seen", d.LastSeen.UtcDateTime.ToString("O"));
            WriteStrings(w, "source_groups", d.SourceGroups);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteNumber("malformed", s.Malformed.Count);
        w.WriteEndObject();
    }

    private static string Flag(NameRisk r) => r switch
    {
        NameRisk.IpLiteral => "ip-literal",
        NameRisk.EncodedLabel => "encoded-label",
        NameRisk.OneFlowOnly => "one-flow",
        NameRisk.ThreatFeed => "threat-feed",
        _ => r.ToString(),
    };

    private static void WriteStrings(Utf8JsonWriter w, string name, IEnumerable<string> values)
    {
        w.WriteStartArray(name);
        foreach (var v in values) w.WriteStringValue(v);
        w.WriteEndArray();
    }
}

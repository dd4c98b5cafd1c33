using System.Text.Json;

namespace Corral.Replay;

/// <summary>Writes a <see cref="ReplayReport"/> as a table for people, JSON for programs, or Markdown for a pull-request comment.</summary>
public static class ReplayReportWriter
{
    public static void WriteText(TextWriter o, ReplayReport r)
    {
        o.WriteLine($"policy {r.PolicyName} ({r.PolicyHash[..12]}): {r.Records} records{Span(r)}, {r.Replayed} decided again, {r.Unchanged} unchanged, {r.ChangedCount} changed");
        o.WriteLine($"  permit -> deny (would now be blocked): {r.PermitToDenyCount}");
        o.WriteLine($"  deny -> permit (would now get through): {r.DenyToPermitCount}");
        foreach (var c in r.Changes)
        {
            o.WriteLine();
            o.WriteLine($"{c.Count,8}  {c.From}  ->  {c.To}{(c.Enforcement is { } e ? $"   [{e}]" : "")}");
            o.WriteLine($"          first {Time(c.FirstSeen)}, last {Time(c.LastSeen)}");
            foreach (var d in c.TopDestinations)
                o.WriteLine($"  {d.Count,8}  {d.Destination,-48} first {Time(d.FirstSeen)}  last {Time(d.LastSeen)}");
            if (c.OtherDestinations > 0) o.WriteLine($"  {c.OtherDestinations,8}  (other destinations)");
        }
        WriteNotes(o, r, "");
    }

    public static void WriteMarkdown(TextWriter o, ReplayReport r)
    {
        o.WriteLine($"### Corral replay: `{r.PolicyName}`");
        o.WriteLine();
        o.WriteLine($"{r.Records} recorded flows{Span(r)}; **{r.PermitToDenyCount}** would now be blocked, **{r.DenyToPermitCount}** would now get through, {r.ChangedCount} change in total, {r.Unchanged} unchanged.");
        if (r.Changes.Count > 0)
        {
            o.WriteLine();
            o.WriteLine("| flows | recorded | now | enforcement | top destinations |");
            o.WriteLine("|---:|---|---|---|---|");
            foreach (var c in r.Changes)
                o.WriteLine($"| {c.Count} | {Cell(c.From.ToString())} | {Cell(c.To.ToString())} | {c.Enforcement ?? "-"} | " +
                            $"{Cell(string.Join(", ", c.TopDestinations.Take(5).Select(d => $"`{d.Destination}` ×{d.Count}")))} |");
        }
        o.WriteLine();
        WriteNotes(o, r, "- ");
    }

    private static void WriteNotes(TextWriter o, ReplayReport r, string bullet)
    {
        foreach (var (reason, count) in r.NotReplayed.OrderByDescending(p => p.Value))
            o.WriteLine($"{bullet}{count} record(s) not decided again: {reason}");
        foreach (var (fact, count) in r.DecidedWithout.OrderBy(p => p.Key))
            o.WriteLine($"{bullet}{count} record(s) decided without {Describe(fact)}");
        if (r.Malformed.Count > 0)
        {
            o.WriteLine($"{bullet}{r.Malformed.Count} malformed line(s) skipped{(r.Malformed.Count > r.Malformed.First.Count ? $"; the first {r.Malformed.First.Count}" : "")}:");
            foreach (var p in r.Malformed.First) o.WriteLine($"{bullet}  {p}");
        }
    }

    /// <summary>What a record lacked, in words (also used as the JSON key).</summary>
    public static string Describe(MissingFacts fact) => fact switch
    {
        MissingFacts.AllAddresses => "every resolved address (only the dialled one was recorded)",
        MissingFacts.Tls => "whether the flow was TLS (requireTls rules did not match)",
        MissingFacts.Path => "the request path (URL filters not checked)",
        _ => fact.ToString(),
    };

    public static void WriteJson(Utf8JsonWriter w, ReplayReport r)
    {
        w.WriteStartObject();
        w.WriteString("policy", r.PolicyName);
        w.WriteString("hash", r.PolicyHash);
        w.WriteNumber("records", r.Records);
        w.WriteNumber("replayed", r.Replayed);
        w.WriteNumber("unchanged", r.Unchanged);
        w.WriteNumber("changed", r.ChangedCount);
        w.WriteNumber("permit_to_deny", r.PermitToDenyCount);
        w.WriteNumber("deny_to_permit", r.DenyToPermitCount);
        if (r.FirstSeen is { } first) w.WriteString("first_seen", first.UtcDateTime.ToString("O")); else w.WriteNull("first_seen");
        if (r.LastSeen is { } last) w.WriteString("last_seen", last.UtcDateTime.ToString("O")); else w.WriteNull("last_seen");
        w.WriteStartArray("changes");
        foreach (var c in r.Changes)
        {
            w.WriteStartObject();
            w.WriteNumber("count", c.Count);
            WriteOutcome(w, "from", c.From);
            WriteOutcome(w, "to", c.To);
            if (c.Enforcement is { } e) w.WriteString("enforcement", e); else w.WriteNull("enforcement");
            w.WriteString("first_seen", c.FirstSeen.UtcDateTime.ToString("O"));
            w.WriteString("last_seen", c.LastSeen.UtcDateTime.ToString("O"));
            w.WriteStartArray("top_destinations");
            foreach (var d in c.TopDestinations)
            {
                w.WriteStartObject();
                if (d.Destination.Host is { } host) w.WriteString("host", host); else w.WriteNull("host");
                if (d.Destination.Address is { } address) w.WriteString("address", address.ToString()); else w.WriteNull("address");
                w.WriteNumber("port", d.Destination.Port);
                w.WriteNumber("count", d.Count);
                w.WriteString("first_seen", d.FirstSeen.UtcDateTime.ToString("O"));
                w.WriteString("last_seen", d.LastSeen.UtcDateTime.ToString("O"));
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteNumber("other_destinations", c.OtherDestinations);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartObject("not_replayed");
        foreach (var (reason, count) in r.NotReplayed) w.WriteNumber(reason, count);
        w.WriteEndObject();
        w.WriteStartObject("decided_without");
        foreach (var (fact, count) in r.DecidedWithout) w.WriteNumber(JsonKey(fact), count);
        w.WriteEndObject();
        w.WriteStartObject("malformed");
        w.WriteNumber("count", r.Malformed.Count);
        w.WriteStartArray("first");
        foreach (var p in r.Malformed.First)
        {
            w.WriteStartObject();
            w.WriteString("at", p.Origin);
            w.WriteString("problem", p.Problem);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static string JsonKey(MissingFacts fact) => fact switch
    {
        MissingFacts.AllAddresses => "all_addresses",
        MissingFacts.Tls => "tls",
        MissingFacts.Path => "path",
        _ => fact.ToString().ToLowerInvariant(),
    };

    public static void WriteOutcome(Utf8JsonWriter w, string name, Outcome o)
    {
        w.WriteStartObject(name);
        if (o.Refused) w.WriteString("action", "refused");
        else w.WriteString("action", o.Permit ? "permit" : "deny");
        if (o.Rule is null) w.WriteNull("rule"); else w.WriteString("rule", o.Rule);
        w.WriteBoolean("enforced", o.Enforced);
        w.WriteBoolean("lets_through", o.LetsThrough);
        w.WriteEndObject();
    }

    private static string Span(ReplayReport r) =>
        r.FirstSeen is { } f && r.LastSeen is { } l ? $" from {Time(f)} to {Time(l)}" : "";

    private static string Time(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'");

    private static string Cell(string text) => text.Replace("|", "\\|");
}

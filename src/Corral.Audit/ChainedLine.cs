using System.Text.Json;

namespace Corral.Audit;

/// <summary>What the verifier reads of one line: its chain fields and, for a checkpoint or a gap record, their fields.</summary>
internal sealed record ChainedLine(long? Seq, string? Prev, string? Event, string? Time, string? Reason, string? Key, string? Signature, long? Dropped)
{
    public bool IsChained => Seq is not null && Prev is { Length: FlowChain.HashLength };

    /// <summary>Parses a line; null when it is not a JSON object.</summary>
    public static ChainedLine? Parse(ReadOnlySpan<byte> line)
    {
        try
        {
            var reader = new Utf8JsonReader(line, new JsonReaderOptions { MaxDepth = 16 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return null;
            long? seq = null, dropped = null;
            string? prev = null, evt = null, time = null, reason = null, key = null, sig = null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var name = reader.GetString();
                reader.Read();
                if (ChainField(name, ref reader, ref seq, ref prev, ref evt)) continue;
                switch (name)
                {
                    case "time": time = Text(ref reader); break;
                    case "reason": reason = Text(ref reader); break;
                    case "key": key = Text(ref reader); break;
                    case "sig": sig = Text(ref reader); break;
                    case "dropped": dropped = reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var d) ? d : null; break;
                    case "unmapped" when reader.TokenType == JsonTokenType.StartObject: OcsfChain(ref reader, ref seq, ref prev, ref evt); break;
                    default: reader.Skip(); break;
                }
            }
            if (reader.TokenType != JsonTokenType.EndObject || reader.Read()) return null; // trailing bytes: not one object
            return new ChainedLine(seq, prev, evt, time, reason, key, sig, dropped);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>An OCSF event of the gateway's OCSF sink keeps the chain in <c>unmapped.corral</c> (Ocsf/OcsfMapping.cs).</summary>
    private static void OcsfChain(ref Utf8JsonReader reader, ref long? seq, ref string? prev, ref string? evt)
    {
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var isCorral = reader.ValueTextEquals(Ocsf.OcsfMapping.Extension);
            reader.Read();
            if (!isCorral || reader.TokenType != JsonTokenType.StartObject) { reader.Skip(); continue; }
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var name = reader.GetString();
                reader.Read();
                if (!ChainField(name, ref reader, ref seq, ref prev, ref evt)) reader.Skip();
            }
        }
    }

    /// <summary>Reads <c>seq</c>, <c>prev</c> or <c>event</c> (the reader on its value); false for any other property.</summary>
    private static bool ChainField(string? name, ref Utf8JsonReader reader, ref long? seq, ref string? prev, ref string? evt)
    {
        switch (name)
        {
            case "seq": seq = reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var s) && s > 0 ? s : null; return true;
            case "prev": prev = Text(ref reader); return true;
            case "event": evt = Text(ref reader); return true;
            default: return false;
        }
    }

    private static string? Text(ref Utf8JsonReader reader) => reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
}

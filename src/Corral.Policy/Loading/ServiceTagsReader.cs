using System.Text.Json;
using Corral.Policy.Addressing;
using Corral.Policy.Diagnostics;

namespace Corral.Policy.Loading;

/// <summary>One entry of Microsoft's Service Tags file, with where its name is written.</summary>
internal sealed record ServiceTagEntry(string Name, string Region, string? SystemService, IReadOnlyList<IpPrefix> Prefixes, SourceLocation Location);

/// <summary>Microsoft's weekly <c>ServiceTags_Public_*.json</c>, indexed by tag name (case-insensitive).</summary>
/// <param name="CloudLocation">Where the file says its <c>cloud</c>; none when it does not.</param>
internal sealed record ServiceTagsFile(string? ChangeNumber, string? Cloud, SourceLocation CloudLocation, IReadOnlyDictionary<string, ServiceTagEntry> Tags)
{
    /// <summary>
    /// Finds a tag: with a pinned region, the regional tag <c>Name.Region</c> when the file has one, else the global tag.
    /// A name that already names a region (<c>MicrosoftContainerRegistry.EastUS</c>) is taken as written; a tag
    /// <see cref="ServiceTagCatalog.AlwaysGlobal"/> names is never narrowed.
    /// </summary>
    public ServiceTagEntry? Find(string tag, string? region)
    {
        if (ServiceTagCatalog.PinsRegion(tag, region) && Tags.TryGetValue($"{tag}.{region}", out var regional)) return regional;
        return Tags.GetValueOrDefault(tag);
    }
}

/// <summary>
/// Reads and checks a Service Tags file in one streaming pass. Every problem is an error at its FILE:LINE:COL (a
/// prefix that is not a CIDR, host bits set, a tag name given twice, a missing field), never a crash; a file with
/// any error yields nothing, so a half-read file can never decide a flow.
/// </summary>
internal static class ServiceTagsReader
{
    public const long MaxBytes = 128L * 1024 * 1024;

    /// <summary>Past this many errors the file is plainly not a Service Tags file; more lines would only bury the first.</summary>
    private const int MaxErrors = 20;

    public static ServiceTagsFile? Parse(byte[] bytes, string displayPath, DiagnosticBag diagnostics)
    {
        var json = bytes.AsMemory();
        if (json.Span.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF])) json = json[3..];
        var parse = new FileParse(json, displayPath, diagnostics);
        try
        {
            return parse.Read();
        }
        catch (JsonException ex)
        {
            diagnostics.Error("bad-service-tags", new SourceLocation(displayPath, (int)(ex.LineNumber ?? 0) + 1, (int)(ex.BytePositionInLine ?? 0) + 1),
                "not valid JSON: " + ex.Message.Split(" LineNumber")[0]);
            return null;
        }
    }

    /// <summary>One pass over one file: the reader, the line index for locations, and the errors so far.</summary>
    private sealed class FileParse(ReadOnlyMemory<byte> json, string displayPath, DiagnosticBag diagnostics)
    {
        private int[]? _lineStarts;
        private int _errors;

        public ServiceTagsFile? Read()
        {
            var reader = new Utf8JsonReader(json.Span, new JsonReaderOptions { MaxDepth = 16, CommentHandling = JsonCommentHandling.Skip });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                NotAServiceTagsFile(reader.TokenType == JsonTokenType.None ? SourceLocation.None(displayPath) : At(reader.TokenStartIndex));
                return null;
            }
            string? change = null, cloud = null;
            var cloudAt = SourceLocation.None(displayPath);
            Dictionary<string, ServiceTagEntry>? tags = null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var property = reader.GetString();
                reader.Read();
                switch (property)
                {
                    case "changeNumber" when reader.TokenType is JsonTokenType.String or JsonTokenType.Number:
                        change = reader.TokenType == JsonTokenType.String ? reader.GetString() : System.Text.Encoding.UTF8.GetString(reader.ValueSpan);
                        break;
                    case "cloud" when reader.TokenType == JsonTokenType.String:
                        cloud = reader.GetString();
                        cloudAt = At(reader.TokenStartIndex);
                        break;
                    case "values" when reader.TokenType == JsonTokenType.StartArray:
                        tags = ReadValues(ref reader);
                        break;
                    default:
                        reader.Skip();
                        break;
                }
            }
            if (tags is null)
            {
                NotAServiceTagsFile(SourceLocation.None(displayPath));
                return null;
            }
            return _errors > 0 ? null : new ServiceTagsFile(change, cloud, cloudAt, tags);
        }

        private Dictionary<string, ServiceTagEntry> ReadValues(ref Utf8JsonReader reader)
        {
            var tags = new Dictionary<string, ServiceTagEntry>(StringComparer.OrdinalIgnoreCase);
            var index = -1;
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                index++;
                var valueAt = At(reader.TokenStartIndex);
                if (reader.TokenType != JsonTokenType.StartObject)
                {
                    reader.Skip();
                    Error(valueAt, $"values[{index}] is not an object");
                    continue;
                }
                if (ReadValue(ref reader, index) is not { } entry) continue;
                if (tags.TryGetValue(entry.Name, out var first))
                    Error(entry.Location, $"tag {entry.Name} is defined twice; the first is at {first.Location}",
                        "a file with two entries of one name is damaged or merged by hand: download it again from Microsoft");
                else tags.Add(entry.Name, entry);
            }
            return tags;
        }

        /// <summary>One tag: <c>{ "name": …, "properties": { "region": …, "systemService": …, "addressPrefixes": [ … ] } }</c>.</summary>
        private ServiceTagEntry? ReadValue(ref Utf8JsonReader reader, int index)
        {
            var valueAt = At(reader.TokenStartIndex);
            string? name = null, region = null, systemService = null;
            var nameAt = valueAt;
            List<(string? Text, long Offset)>? prefixTexts = null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var property = reader.GetString();
                reader.Read();
                if (property == "name" && reader.TokenType == JsonTokenType.String)
                {
                    name = reader.GetString();
                    nameAt = At(reader.TokenStartIndex);
                }
                else if (property == "properties" && reader.TokenType == JsonTokenType.StartObject)
                {
                    while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                    {
                        var inner = reader.GetString();
                        reader.Read();
                        if (inner == "region" && reader.TokenType == JsonTokenType.String) region = reader.GetString();
                        else if (inner == "systemService" && reader.TokenType == JsonTokenType.String) systemService = reader.GetString();
                        else if (inner == "addressPrefixes" && reader.TokenType == JsonTokenType.StartArray)
                        {
                            prefixTexts = [];
                            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                            {
                                prefixTexts.Add((reader.TokenType == JsonTokenType.String ? reader.GetString() : null, reader.TokenStartIndex));
                                reader.Skip();
                            }
                        }
                        else reader.Skip();
                    }
                }
                else reader.Skip();
            }
            if (name is null || prefixTexts is null)
            {
                Error(valueAt, $"values[{index}] lacks name, properties or properties.addressPrefixes");
                return null;
            }
            var prefixes = new List<IpPrefix>(prefixTexts.Count);
            var sound = true;
            foreach (var (text, offset) in prefixTexts)
            {
                string? error = "an address prefix is a string";
                if (text is not null && IpPrefix.TryParse(text, out var prefix, out error)) prefixes.Add(prefix);
                else
                {
                    sound = false;
                    Error(At(offset), $"tag {name}: '{text}' is not a CIDR: {error}");
                }
            }
            return sound ? new ServiceTagEntry(name, region ?? "", systemService, prefixes, nameAt) : null;
        }

        private void NotAServiceTagsFile(SourceLocation at) =>
            Error(at, "not a Service Tags file: expected an object with a 'values' array",
                "download ServiceTags_Public_*.json from Microsoft's 'Azure IP Ranges and Service Tags' page");

        private void Error(SourceLocation at, string message, string? hint = null)
        {
            if (++_errors <= MaxErrors) diagnostics.Error("bad-service-tags", at, message, hint);
            else if (_errors == MaxErrors + 1)
                diagnostics.Error("bad-service-tags", SourceLocation.None(displayPath), $"more than {MaxErrors} errors; the rest are not listed");
        }

        /// <summary>The 1-based line and column (in bytes, as JSON parsers count) of a byte offset; the line index is built on first use.</summary>
        private SourceLocation At(long offset)
        {
            _lineStarts ??= LineStarts(json.Span);
            var line = Array.BinarySearch(_lineStarts, (int)offset);
            if (line < 0) line = ~line - 1;
            return new SourceLocation(displayPath, line + 1, (int)offset - _lineStarts[line] + 1);
        }

        private static int[] LineStarts(ReadOnlySpan<byte> text)
        {
            var starts = new List<int> { 0 };
            for (var i = text.IndexOf((byte)'\n'); i >= 0;)
            {
                starts.Add(i + 1);
                var next = text[(i + 1)..].IndexOf((byte)'\n');
                i = next < 0 ? -1 : i + 1 + next;
            }
            return starts.ToArray();
        }
    }
}

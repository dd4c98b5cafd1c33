using System.Text.Json;
using Corral.Policy.Addressing;
using Corral.Policy.Diagnostics;

namespace Corral.Policy.Loading;

/// <summary>One entry of Microsoft's Service Tags file.</summary>
internal sealed record ServiceTagEntry(string Name, string Region, string? SystemService, IReadOnlyList<IpPrefix> Prefixes);

/// <summary>Microsoft's weekly <c>ServiceTags_Public_*.json</c>, indexed by tag name (case-insensitive).</summary>
internal sealed record ServiceTagsFile(string? ChangeNumber, string? Cloud, IReadOnlyDictionary<string, ServiceTagEntry> Tags)
{
    /// <summary>
    /// Finds a tag: with a pinned region, the regional tag <c>Name.Region</c> when the file has one, else the global tag.
    /// A name that already names a region (<c>MicrosoftContainerRegistry.EastUS</c>) is taken as written.
    /// </summary>
    public ServiceTagEntry? Find(string tag, string? region)
    {
        if (!string.IsNullOrEmpty(region) && Tags.TryGetValue($"{tag}.{region}", out var regional)) return regional;
        return Tags.GetValueOrDefault(tag);
    }
}

/// <summary>Reads and checks the shape of a Service Tags file; a wrong shape is an error with its place, never a crash.</summary>
internal static class ServiceTagsReader
{
    public const long MaxBytes = 128L * 1024 * 1024;

    public static ServiceTagsFile? Parse(byte[] bytes, string displayPath, DiagnosticBag diagnostics)
    {
        JsonDocument document;
        try
        {
            var json = bytes.AsMemory();
            if (json.Span.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF])) json = json[3..];
            document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 16, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException ex)
        {
            diagnostics.Error("bad-service-tags", new SourceLocation(displayPath, (int)(ex.LineNumber ?? 0) + 1, (int)(ex.BytePositionInLine ?? 0) + 1),
                "not valid JSON: " + ex.Message.Split(" LineNumber")[0]);
            return null;
        }
        using (document)
        {
            var here = SourceLocation.None(displayPath);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("values", out var values) || values.ValueKind != JsonValueKind.Array)
            {
                diagnostics.Error("bad-service-tags", here, "not a Service Tags file: expected an object with a 'values' array",
                    "download ServiceTags_Public_*.json from Microsoft's 'Azure IP Ranges and Service Tags' page");
                return null;
            }
            var tags = new Dictionary<string, ServiceTagEntry>(StringComparer.OrdinalIgnoreCase);
            var index = 0;
            foreach (var value in values.EnumerateArray())
            {
                index++;
                if (value.ValueKind != JsonValueKind.Object || !TryString(value, "name", out var name) ||
                    !value.TryGetProperty("properties", out var properties) || properties.ValueKind != JsonValueKind.Object ||
                    !properties.TryGetProperty("addressPrefixes", out var addressPrefixes) || addressPrefixes.ValueKind != JsonValueKind.Array)
                {
                    diagnostics.Error("bad-service-tags", here, $"values[{index - 1}] lacks name, properties or properties.addressPrefixes");
                    return null;
                }
                TryString(properties, "region", out var region);
                TryString(properties, "systemService", out var systemService);
                var prefixes = new List<IpPrefix>();
                foreach (var p in addressPrefixes.EnumerateArray())
                {
                    if (p.ValueKind != JsonValueKind.String || !IpPrefix.TryParse(p.GetString(), out var prefix, out var error))
                    {
                        diagnostics.Error("bad-service-tags", here, $"tag {name}: '{p}' is not a CIDR");
                        return null;
                    }
                    prefixes.Add(prefix);
                }
                tags[name] = new ServiceTagEntry(name, region ?? "", systemService, prefixes);
            }
            TryString(root, "changeNumber", out var change);
            if (change is null && root.TryGetProperty("changeNumber", out var changeNumber) && changeNumber.ValueKind == JsonValueKind.Number)
                change = changeNumber.GetRawText();
            TryString(root, "cloud", out var cloud);
            return new ServiceTagsFile(change, cloud, tags);
        }
    }

    private static bool TryString(JsonElement element, string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? value)
    {
        value = element.TryGetProperty(name, out var p) && p.ValueKind == JsonValueKind.String ? p.GetString() : null;
        return value is not null;
    }
}

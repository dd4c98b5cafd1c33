using System.Collections.Frozen;

namespace Corral.Policy.Loading;

/// <summary>
/// Corral's built-in list of Azure service tags (ServiceTagCatalog.txt, derived from Microsoft's file at the change
/// number it names): how Microsoft spells each tag and which regions it has its own ranges for. It stands in for the
/// Service Tags file when a policy has none, so a tag is still written as Microsoft spells it and pinned to a region
/// only where Microsoft publishes regional ranges.
/// </summary>
internal sealed class ServiceTagCatalog
{
    private readonly FrozenDictionary<string, string> _spelling;
    private readonly FrozenSet<string> _regionalNames;

    private ServiceTagCatalog(string changeNumber, IEnumerable<(string Name, string[] Regions)> tags)
    {
        ChangeNumber = changeNumber;
        var spelling = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var regional = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, regions) in tags)
        {
            spelling[name] = name;
            foreach (var region in regions)
            {
                spelling[$"{name}.{region}"] = $"{name}.{region}";
                regional.Add($"{name}.{region}");
            }
        }
        _spelling = spelling.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);
        _regionalNames = regional.ToFrozenSet(StringComparer.OrdinalIgnoreCase);
    }

    public static ServiceTagCatalog BuiltIn { get; } = Load();

    /// <summary>The change number of Microsoft's file the list was derived from.</summary>
    public string ChangeNumber { get; }

    /// <summary>Every tag name (global and regional) as Microsoft spells it.</summary>
    public IEnumerable<string> Names => _spelling.Values;

    /// <summary>
    /// Tags never narrowed to the policy's region: Microsoft's Azure Container Apps firewall guidance lists the global
    /// MicrosoftContainerRegistry and AzureContainerRegistry tags, since image layers are served from other regions' endpoints.
    /// </summary>
    public static readonly FrozenSet<string> AlwaysGlobal =
        new[] { "MicrosoftContainerRegistry", "AzureContainerRegistry" }.ToFrozenSet(StringComparer.OrdinalIgnoreCase);

    /// <summary>Whether a policy's region narrows <paramref name="tag"/> to its regional ranges.</summary>
    public static bool PinsRegion(string tag, string? region) => !string.IsNullOrEmpty(region) && !AlwaysGlobal.Contains(tag);

    /// <summary>The tag as Microsoft spells it, or null when the list does not have it.</summary>
    public string? Spelling(string tag) => _spelling.GetValueOrDefault(tag);

    /// <summary>
    /// The tag a policy's name and pinned region come to, as <see cref="ServiceTagsFile.Find"/> does with a file: the
    /// regional tag when Microsoft publishes one for the region, else the tag itself; null when the list does not have it.
    /// </summary>
    public string? Resolve(string tag, string? region)
    {
        if (PinsRegion(tag, region) && _regionalNames.Contains($"{tag}.{region}")) return _spelling[$"{tag}.{region}"];
        return Spelling(tag);
    }

    private static ServiceTagCatalog Load()
    {
        using var stream = typeof(ServiceTagCatalog).Assembly.GetManifestResourceStream("Corral.Policy.Loading.ServiceTagCatalog.txt")
                           ?? throw new InvalidOperationException("the built-in service tag list is missing from the assembly");
        using var reader = new StreamReader(stream);
        var changeNumber = "";
        var tags = new List<(string, string[])>();
        while (reader.ReadLine() is { } line)
        {
            if (line.Length == 0 || line[0] == '#') continue;
            var words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (words[0] == "changeNumber") changeNumber = words[1];
            else tags.Add((words[0], words[1..]));
        }
        return new ServiceTagCatalog(changeNumber, tags);
    }
}

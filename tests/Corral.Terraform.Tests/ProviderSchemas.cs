using System.Text.Json;
using Corral.Testing;

namespace Corral.Terraform.Tests;

/// <summary>One argument or nested block of a resource, as the provider's Go schema declares it.</summary>
internal sealed record ArgumentSchema(bool Required, bool Optional, bool Computed, string Type, IReadOnlyList<string>? Enum, int? MaxItems, BlockSchema? Block)
{
    /// <summary>Computed-only attributes are the provider's to fill; configuration may not set them.</summary>
    public bool Settable => Required || Optional;
}

/// <summary>The arguments and nested blocks a resource (or one of its blocks) accepts.</summary>
internal sealed record BlockSchema(IReadOnlyDictionary<string, ArgumentSchema> Arguments);

/// <summary>The schemas of one provider release: the Aviatrix resources at that tag plus the azurerm ones the module uses.</summary>
internal sealed record ProviderRelease(string Version, IReadOnlyDictionary<string, BlockSchema> Resources, IReadOnlyDictionary<string, BlockSchema> DataSources)
{
    public override string ToString() => "aviatrix " + Version;
}

/// <summary>
/// The provider schemas the generated module is checked against, read from the data files in
/// tests/Corral.Terraform.Tests/data (their sources are in data/README.md): every Aviatrix release in
/// aviatrix-provider-schema.json, each with the data source and azurerm schemas of provider-schema-supplement.json.
/// </summary>
internal static class ProviderSchemas
{
    public static string DataDir { get; } = Path.Combine(Repository.Root, "tests", "Corral.Terraform.Tests", "data");

    /// <summary>Terraform's own meta-arguments, valid in every resource and data block.</summary>
    public static readonly IReadOnlySet<string> MetaArguments = new HashSet<string>(StringComparer.Ordinal) { "count", "for_each", "depends_on", "provider", "lifecycle" };

    public static IReadOnlyList<ProviderRelease> Aviatrix { get; } = Load();

    public static ProviderRelease Release(string version) => Aviatrix.Single(r => r.Version == version);

    private static List<ProviderRelease> Load()
    {
        using var reference = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(DataDir, "aviatrix-provider-schema.json")));
        using var supplement = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(DataDir, "provider-schema-supplement.json")));
        var azurerm = supplement.RootElement.GetProperty("azurerm").EnumerateObject().Single().Value;
        var releases = new List<ProviderRelease>();
        foreach (var version in reference.RootElement.GetProperty("versions").EnumerateObject())
        {
            var resources = Types(version.Value);
            var aviatrix = supplement.RootElement.GetProperty("aviatrix").GetProperty(version.Name);
            foreach (var (name, schema) in Types(aviatrix.GetProperty("resource"))) resources.Add(name, schema);
            foreach (var (name, schema) in Types(azurerm.GetProperty("resource"))) resources.Add(name, schema);
            var data = Types(aviatrix.GetProperty("data"));
            foreach (var (name, schema) in Types(azurerm.GetProperty("data"))) data.Add(name, schema);
            releases.Add(new ProviderRelease(version.Name, resources, data));
        }
        return releases;
    }

    private static Dictionary<string, BlockSchema> Types(JsonElement byType) =>
        byType.EnumerateObject().ToDictionary(t => t.Name, t => Block(t.Value), StringComparer.Ordinal);

    private static BlockSchema Block(JsonElement arguments) =>
        new(arguments.EnumerateObject().ToDictionary(a => a.Name, a => Argument(a.Value), StringComparer.Ordinal));

    private static ArgumentSchema Argument(JsonElement a) => new(
        Flag(a, "Required"), Flag(a, "Optional"), Flag(a, "Computed"),
        a.GetProperty("Type").GetString()!,
        a.TryGetProperty("Enum", out var e) ? e.EnumerateArray().Select(v => v.GetString()!).ToList() : null,
        a.TryGetProperty("MaxItems", out var m) ? m.GetInt32() : null,
        a.TryGetProperty("Block", out var b) ? Block(b) : null);

    private static bool Flag(JsonElement a, string name) => a.TryGetProperty(name, out var f) && f.GetBoolean();
}

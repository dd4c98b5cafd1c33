using Corral.Policy.Model;

namespace Corral.Policy.Loading.Sections;

/// <summary>Reads the <c>serviceTags</c> section: the Azure cloud, the region, and the Service Tags file, which it reads.</summary>
internal sealed class ServiceTagsSectionReader(NodeReader nodes, PolicyInputs inputs)
{
    private static readonly string[] Keys = ["file", "region", "cloud"];

    /// <summary>The values of a Service Tags file's <c>cloud</c>, one file per Azure cloud.</summary>
    private static readonly string[] AzureClouds = ["Public", "AzureGovernment", "China", "AzureGermany"];

    /// <param name="tagsFile">The Service Tags file read, when the section names one that is sound and of the policy's cloud.</param>
    public ServiceTagsSource? Read(YNode? node, out ServiceTagsFile? tagsFile)
    {
        tagsFile = null;
        if (node is null || node is YScalar { IsNull: true }) return null;
        if (node is not YMapping map)
        {
            nodes.Error("bad-type", node, "'serviceTags' is a mapping", "serviceTags: { file: servicetags/ServiceTags_Public.json, region: eastus }");
            return null;
        }
        nodes.CheckKeys(map, Keys, "serviceTags");
        var relative = NodeReader.Get(map, "file") is { } f and not YScalar { IsNull: true } ? nodes.String(f, "file") : null;
        var region = NodeReader.Get(map, "region") is { } r and not YScalar { IsNull: true } ? nodes.String(r, "region") : null;
        var cloud = AzureClouds[0];
        if (NodeReader.Get(map, "cloud") is { } c and not YScalar { IsNull: true } && nodes.String(c, "cloud") is { } cloudText)
        {
            if (AzureClouds.FirstOrDefault(k => string.Equals(k, cloudText, StringComparison.OrdinalIgnoreCase)) is { } known) cloud = known;
            else nodes.Error("bad-value", c, $"'cloud' must be {string.Join(" | ", AzureClouds)}, not '{cloudText}'",
                nodes.Hint(cloudText, AzureClouds) ?? "the value of the Service Tags file's own 'cloud' field");
        }
        if (relative is not null) tagsFile = ReadFile(map, relative, cloud);
        return new ServiceTagsSource(relative, region?.ToLowerInvariant(), map.Location, tagsFile?.ChangeNumber, cloud);
    }

    private ServiceTagsFile? ReadFile(YMapping map, string relative, string cloud)
    {
        var fileNode = NodeReader.Get(map, "file")!;
        var full = inputs.FullPath(relative);
        if (!File.Exists(full))
        {
            nodes.Error("service-tags-not-found", fileNode, $"service tags file '{relative}' not found (looked for {PolicyInputs.DisplayPath(full)})",
                "download ServiceTags_Public_*.json from Microsoft, or remove 'file' to let only Aviatrix resolve tags");
            return null;
        }
        if (!BoundedFile.TryRead(full, ServiceTagsReader.MaxBytes, out var bytes, out var problem))
        {
            nodes.Error("service-tags-unreadable", fileNode, $"service tags file '{relative}' {problem}");
            return null;
        }
        var tagsFile = ServiceTagsReader.Parse(bytes, PolicyInputs.DisplayPath(full), nodes.Diagnostics);
        inputs.Add(full, bytes);
        // A file of another Azure cloud has other ranges under the same tag names: refuse it rather than enforce the wrong ones.
        if (tagsFile?.Cloud is { } fileCloud && !string.Equals(fileCloud, cloud, StringComparison.OrdinalIgnoreCase))
        {
            nodes.Error("service-tags-cloud", fileNode,
                $"service tags file '{relative}' is for cloud '{fileCloud}' (at {tagsFile.CloudLocation}), but the policy is for '{cloud}'",
                NodeReader.Get(map, "cloud") is null
                    ? $"serviceTags.cloud defaults to {AzureClouds[0]}: set 'cloud: {fileCloud}' if that is the cloud you deploy to, or download the {cloud} file"
                    : $"download the {cloud} file, or set 'cloud: {fileCloud}'");
            return null;
        }
        return tagsFile;
    }
}

using Corral.Policy.Addressing;
using Corral.Policy.Model;

namespace Corral.Policy.Loading.Sections;

/// <summary>Reads one smart group: its CIDRs and its Azure service tag, resolved against the Service Tags file when there is one.</summary>
internal sealed class SmartGroupReader(NodeReader nodes, ServiceTagsSource? source, ServiceTagsFile? tagsFile)
{
    private static readonly string[] Keys = ["cidrs", "serviceTag"];

    /// <summary>Service tags read with no Service Tags file: one warning names them all (<see cref="ReportUnenforcedTags"/>).</summary>
    private readonly List<Located<string>> _unenforced = [];

    /// <summary>
    /// One warning, at the first such tag, for every service tag the gateway cannot enforce for want of a Service Tags
    /// file: the fix is one setting, not one per tag. Why and what Aviatrix does instead: <c>corral explain --lint service-tags-unresolved</c>.
    /// </summary>
    public void ReportUnenforcedTags()
    {
        if (_unenforced.Count == 0) return;
        var tags = _unenforced.Count == 1 ? $"service tag '{_unenforced[0].Value}'" : $"the policy's {_unenforced.Count} service tags";
        nodes.Warning("service-tags-unresolved", _unenforced[0].Location,
            $"the gateway cannot enforce {tags} without a Service Tags file",
            "set serviceTags.file to Microsoft's weekly ServiceTags_Public_*.json");
    }

    public SmartGroup? Read(string name, YMapping body)
    {
        nodes.CheckKeys(body, Keys, $"smart group '{name}'");
        var cidrs = new List<Located<IpPrefix>>();
        foreach (var item in nodes.List(NodeReader.Get(body, "cidrs"), "cidrs"))
        {
            if (nodes.String(item, "a CIDR") is not { } text) continue;
            if (IpPrefix.TryParse(text, out var prefix, out var error)) cidrs.Add(new(prefix, item.Location));
            else nodes.Error("bad-cidr", item, $"'{text}' is not a CIDR: {error}");
        }
        Located<string>? tag = null;
        string? resolvedName = null;
        var servicePrefixes = new List<IpPrefix>();
        if (NodeReader.Get(body, "serviceTag") is { } tagNode && nodes.String(tagNode, "serviceTag") is { } tagName)
        {
            // The tag is carried on as Microsoft spells it (the file's spelling, else the built-in list's), whatever the case typed.
            tag = new(tagName, tagNode.Location);
            if (source?.File is null)
            {
                _unenforced.Add(new(tagName, tagNode.Location));
                // The built-in list is the Public cloud's; another cloud's tags are taken as written and pinned as the policy says.
                var catalog = ServiceTagCatalog.BuiltIn;
                var publicCloud = source?.Cloud is null or "Public";
                if (publicCloud && catalog.Spelling(tagName) is { } spelled)
                {
                    tag = new(spelled, tagNode.Location);
                    resolvedName = catalog.Resolve(spelled, source?.Region);
                }
                else if (publicCloud)
                    nodes.Warning("unknown-service-tag", tagNode.Location,
                        $"service tag '{tagName}' is not in Corral's built-in list (Microsoft's file, changeNumber {catalog.ChangeNumber})",
                        nodes.Hint(tagName, catalog.Names) ?? "check the spelling, or set serviceTags.file to a current ServiceTags_Public_*.json");
            }
            else if (tagsFile is not null)
            {
                if (tagsFile.Find(tagName, source.Region) is { } entry)
                {
                    tag = new(tagsFile.Tags.TryGetValue(tagName, out var named) ? named.Name : tagName, tagNode.Location);
                    resolvedName = entry.Name;
                    servicePrefixes.AddRange(entry.Prefixes);
                }
                else
                {
                    nodes.Error("unknown-service-tag", tagNode, $"service tag '{tagName}' is not in {source.File}",
                        nodes.Hint(tagName, tagsFile.Tags.Keys) ?? "check the spelling against the file's values[].name");
                }
            }
        }
        if (cidrs.Count == 0 && tag is null && !NodeReader.Has(body, "cidrs"))
            nodes.Error("empty-group", body, $"smart group '{name}' needs 'cidrs' or 'serviceTag'");
        return new SmartGroup(name, body.Location, cidrs, tag, resolvedName, servicePrefixes);
    }
}

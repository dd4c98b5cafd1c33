using Corral.Policy.Diagnostics;

namespace Corral.Terraform.Mapping;

/// <summary>
/// Group sizes against what Aviatrix documents (<see cref="AviatrixLimits"/>). A smart group the policy fills past the
/// limit stops the export: splitting it would change what the policy's names mean in the controller, so the policy
/// author decides. What the module can leave to the Corral gateway (local threat-feed addresses beside ThreatIQ) it
/// leaves, with a warning; what Aviatrix does not document, it carries and says so.
/// </summary>
public static class GroupLimits
{
    public static IReadOnlyList<Diagnostic> Errors(ModuleContext context)
    {
        var errors = new List<Diagnostic>();
        foreach (var group in context.Document.SmartGroups)
            if (group.Cidrs.Count > AviatrixLimits.SmartGroupCidrs)
                errors.Add(new Diagnostic(Severity.Error, "smart-group-too-large", group.Location,
                    $"smart group '{group.Name}' has {group.Cidrs.Count:N0} CIDRs; Aviatrix enforces at most {AviatrixLimits.SmartGroupCidrs:N0} in a smart group " +
                    $"({AviatrixLimits.SmartGroupCidrsSource})",
                    "split it into groups of at most 10,000 CIDRs (merge adjacent ranges first) and name them all in the rules, or move the list to a threat group"));
        return errors;
    }

    public static IEnumerable<ExportWarning> Warnings(ModuleContext context)
    {
        foreach (var threat in context.Document.ThreatGroups)
        {
            if (threat.Feeds.Sum(f => f.Prefixes.Count) is var addresses and > 0 && SmartGroupsFile.ThreatFeedCidrs(threat).Count == 0)
                yield return new("threat-feed-addresses", threat.Location,
                    $"threat group '{threat.Name}': its local feeds list {addresses:N0} address entries, more than the {AviatrixLimits.SmartGroupCidrs:N0} CIDRs " +
                    "Aviatrix enforces in a smart group, so none of them is in the module: on Aviatrix the group is ThreatIQ's list alone, " +
                    $"while the Corral gateway enforces all {addresses:N0}");
        }
        foreach (var group in context.Document.SmartGroups)
        {
            var total = group.Cidrs.Count + group.ServicePrefixes.Count;
            if (group.ServiceTag is { } tag && total > AviatrixLimits.SmartGroupCidrs && group.Cidrs.Count <= AviatrixLimits.SmartGroupCidrs)
                yield return new("service-tag-size", tag.Location,
                    $"smart group '{group.Name}': service tag {group.ServiceTagResolvedName ?? tag.Value} has {group.ServicePrefixes.Count:N0} prefixes in the " +
                    $"serviceTags file, which with the group's CIDRs is more than the {AviatrixLimits.SmartGroupCidrs:N0} CIDRs Aviatrix enforces in a smart group; " +
                    "Aviatrix may enforce only part of it (pin a region, or use a narrower tag)");
        }
        foreach (var web in context.Document.WebGroups)
        {
            var entries = web.Domains.Count + web.Urls.Count;
            if (entries > AviatrixLimits.WebGroupEntriesUnconfirmed)
                yield return new("web-group-size", web.Location,
                    $"web group '{web.Name}' has {entries:N0} entries; the module carries them all, but Aviatrix documents no limit for web groups, " +
                    "so confirm the controller takes a group this large before relying on it");
        }
    }
}

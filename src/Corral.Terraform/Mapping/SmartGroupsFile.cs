using Corral.Policy.Model;
using Corral.Terraform.Hcl;

namespace Corral.Terraform.Mapping;

/// <summary>
/// smartgroups.tf: the built-in groups' UUIDs, one <c>aviatrix_smart_group</c> per smart group (a CIDR expression per
/// CIDR, or the azureips external feed for a service tag) and per threat group (the ThreatIQ feed plus the feeds' CIDRs).
/// </summary>
public static class SmartGroupsFile
{
    public const string FileName = "smartgroups.tf";

    public static string Write(ModuleContext context)
    {
        var file = new HclBody();
        file.Comment($"Smart groups of policy {context.Document.Name} ({context.PolicyFileName}), written by `corral terraform`.");
        file.Comment("Edit the policy and run `corral terraform` again rather than editing this file.");
        file.TopBlock("locals", [], b => b
            .Comment("Aviatrix's built-in smart groups have fixed UUIDs (seen in the provider's tests and community blueprints).")
            .Attribute("anywhere_uuid", AviatrixBuiltIns.AnywhereUuid)
            .Attribute("public_internet_uuid", AviatrixBuiltIns.PublicInternetUuid));

        foreach (var group in context.Document.SmartGroups)
        {
            var name = context.Names.For(ModuleContext.SmartGroupType, group.Name);
            var isAgent = ReferenceEquals(group, context.AgentGroup);
            var comment = $"{group.Name} ({context.Cite(group.Location)})" +
                          (isAgent ? ": the hosted-agent subnet, source identity of the egress rules." : group.ServiceTag is not null
                              ? $": Azure service tag {group.ServiceTag.Value}; Aviatrix keeps its ranges current." : ".");
            file.TopBlock("resource", [ModuleContext.SmartGroupType, name], b =>
            {
                b.Attribute("name", ModuleContext.ObjectName(group.Name));
                b.Block("selector", s =>
                {
                    if (isAgent) AgentExpressions(s, group);
                    else
                    {
                        MatchExpressions.Write(s, "cidr", group.Cidrs.Select(c => c.Value.ToString()).ToList());
                        if (group.ServiceTag is { } tag) s.Block("match_expressions", m => ServiceTag(m, context, group, tag.Value));
                    }
                });
            }, comment);
        }

        foreach (var threat in context.Document.ThreatGroups)
        {
            var name = context.Names.For(ModuleContext.SmartGroupType, threat.Name);
            // Past Aviatrix's CIDR limit the feed's addresses stay with the Corral gateway (reported as threat-feed-addresses).
            var prefixes = ThreatFeedCidrs(threat);
            var comment =
                $"{threat.Name} ({context.Cite(threat.Location)}): a threat group. Aviatrix has no threat-group resource, so this is a smart group\n" +
                "on Aviatrix's ThreatIQ feed (external = \"threatiq\"; ext_args can narrow it by type or severity).\n" +
                $"The local feed files ({string.Join(", ", threat.Feeds.Select(f => f.Path))}) are what the Corral gateway enforces;\n" +
                (prefixes.Count > 0
                    ? $"their {prefixes.Count} address entries follow as CIDRs, their domains cannot be carried over (see README.md)."
                    : threat.Feeds.Any(f => f.Prefixes.Count > 0)
                        ? $"their addresses are more than the {AviatrixLimits.SmartGroupCidrs:N0} CIDRs Aviatrix enforces in a smart group and are not carried over, nor their domains (see README.md)."
                        : "they list no addresses to carry over; domains cannot be carried over (see README.md).");
            file.TopBlock("resource", [ModuleContext.SmartGroupType, name], b =>
            {
                b.Attribute("name", ModuleContext.ObjectName(threat.Name));
                b.Block("selector", s =>
                {
                    s.Block("match_expressions", m => m.Attribute("external", "threatiq"));
                    MatchExpressions.Write(s, "cidr", prefixes);
                });
            }, comment);
        }
        return HclWriter.Write(file);
    }

    /// <summary>
    /// The local feeds' distinct addresses as CIDRs when they fit in one smart group beside ThreatIQ, else none; stops
    /// counting at the limit, so a million-line feed costs no more than ten thousand entries.
    /// </summary>
    public static IReadOnlyList<string> ThreatFeedCidrs(Corral.Policy.Model.ThreatGroup threat)
    {
        var distinct = new HashSet<Corral.Policy.Addressing.IpPrefix>();
        var ordered = new List<string>();
        foreach (var prefix in threat.AllPrefixes)
        {
            if (!distinct.Add(prefix)) continue;
            if (distinct.Count > AviatrixLimits.SmartGroupCidrs) return [];
            ordered.Add(prefix.ToString());
        }
        return ordered;
    }

    /// <summary>The agent subnet by CIDR, or (var.agent_smart_group_by_subnet) by Aviatrix's discovery of the subnet by name.</summary>
    private static void AgentExpressions(HclBody selector, SmartGroup group)
    {
        var cidrs = HclExpression.Strings(group.Cidrs.Select(c => c.Value.ToString())).ToString();
        selector.Block("dynamic", ["match_expressions"], d => d
            .Expression("for_each", $"var.agent_smart_group_by_subnet ? [] : {cidrs}")
            .Block("content", c => c.Expression("cidr", "match_expressions.value")));
        selector.Block("dynamic", ["match_expressions"], d => d
            .Expression("for_each", "var.agent_smart_group_by_subnet ? [local.agent_subnet_name] : []")
            .Block("content", c => c
                .Attribute("type", "subnet")
                .Expression("name", "match_expressions.value")
                .Expression("account_name", "var.aviatrix_account_name")));
    }

    private static void ServiceTag(HclBody expression, ModuleContext context, SmartGroup group, string tag)
    {
        var args = new List<KeyValuePair<string, HclExpression>> { new("service_name", HclExpression.Of(tag)) };
        // Pin the policy's region only where Microsoft publishes regional ranges for the tag (the resolved name is then the
        // regional one): a global tag pinned to a region matches nothing. A tag neither the tags file nor Corral's built-in
        // list knows is pinned as the policy says, and reported.
        var region = context.Document.ServiceTags?.Region;
        var regional = group.ServiceTagResolvedName is not { } resolved || !string.Equals(resolved, tag, StringComparison.OrdinalIgnoreCase);
        if (region is not null && regional) args.Add(new("region", HclExpression.Of(region)));
        expression.Attribute("external", "azureips");
        expression.Attribute("ext_args", new HclObject(args));
    }
}

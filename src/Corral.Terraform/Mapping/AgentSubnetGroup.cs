using Corral.Policy.Compilation;
using Corral.Policy.Model;

namespace Corral.Terraform.Mapping;

/// <summary>
/// Finds the smart group that stands for the hosted-agent subnet: the CIDR-only smart group that is the source of the
/// most rules (the first such in policy order on a tie). Its CIDRs become the delegated subnet's address prefixes.
/// </summary>
public static class AgentSubnetGroup
{
    public static SmartGroup? Find(CompiledPolicy policy)
    {
        var document = policy.Document;
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var rule in policy.Rules)
            foreach (var source in rule.Rule.Source.Select(s => s.Value).Distinct())
                counts[source] = counts.GetValueOrDefault(source) + 1;
        SmartGroup? best = null;
        var bestCount = 0;
        foreach (var group in document.SmartGroups)
        {
            if (group.ServiceTag is not null || group.Cidrs.Count == 0 || group.Cidrs.Any(c => !c.Value.IsV4)) continue;
            var count = counts.GetValueOrDefault(group.Name);
            if (count > bestCount) { best = group; bestCount = count; }
        }
        return best;
    }
}

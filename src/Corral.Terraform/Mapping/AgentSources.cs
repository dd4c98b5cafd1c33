using Corral.Policy.Compilation;
using Corral.Policy.Model;

namespace Corral.Terraform.Mapping;

/// <summary>
/// Rules that name agents, as Aviatrix can carry them. The controller sees addresses only, so it cannot tell one agent
/// from another; the module never lets through more than the policy does:
/// a permit loses its agent sources (and is left out when it names only agents: its agents' flows meet the rules below
/// it, as a client without the token does on the gateway); a deny keeps them as smart groups of the agents' CIDRs, so
/// it refuses every client there, a superset of the agent's flows.
/// </summary>
public static class AgentSources
{
    public static CompiledPolicy ForAviatrix(CompiledPolicy policy, List<ExportWarning> warnings)
    {
        var document = policy.Document;
        if (document.Agents.Count == 0) return policy;
        var agents = document.Agents.ToDictionary(a => a.Name, StringComparer.Ordinal);
        var rules = new List<Rule>();
        var denied = new HashSet<string>(StringComparer.Ordinal);
        foreach (var rule in document.Rules)
        {
            var named = rule.Source.Where(s => agents.ContainsKey(s.Value)).Select(s => s.Value).ToList();
            if (named.Count == 0)
            {
                rules.Add(rule);
                continue;
            }
            var list = string.Join(", ", named);
            if (rule.Action == RuleAction.Deny)
            {
                denied.UnionWith(named);
                rules.Add(rule);
                warnings.Add(new("agents-gateway-only", rule.LocationOf("source"),
                    $"rule '{rule.Name}' denies agent(s) {list}: Aviatrix cannot tell agents apart, so the module denies every client in their CIDRs"));
                continue;
            }
            var addresses = rule.Source.Where(s => !agents.ContainsKey(s.Value)).ToList();
            if (addresses.Count == 0)
            {
                warnings.Add(new("agents-gateway-only", rule.LocationOf("source"),
                    $"rule '{rule.Name}' permits only agent(s) {list}: Aviatrix cannot tell agents apart, so the module leaves the rule out " +
                    "(their flows meet the rules after it); only the Corral gateway's explicit listener admits them by token"));
                continue;
            }
            rules.Add(rule with { Source = addresses });
            warnings.Add(new("agents-gateway-only", rule.LocationOf("source"),
                $"rule '{rule.Name}' permits agent(s) {list} besides smart groups: Aviatrix cannot tell agents apart, so the module permits only the smart groups"));
        }
        // Denied agents become smart groups of their CIDRs; the compiled copy has no agents, so their names are address groups.
        var asGroups = document.Agents.Where(a => denied.Contains(a.Name))
            .Select(a => new SmartGroup(a.Name, a.Location, a.Cidrs, null, null, []));
        var aviatrix = document with { Agents = [], SmartGroups = [.. document.SmartGroups, .. asGroups], Rules = rules };
        return CompiledPolicy.Compile(aviatrix, policy.Options);
    }
}

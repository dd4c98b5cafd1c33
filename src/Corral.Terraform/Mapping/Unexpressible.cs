using Corral.Policy.Diagnostics;
using Corral.Policy.Model;

namespace Corral.Terraform.Mapping;

/// <summary>
/// Lists what Corral enforces but the Aviatrix module cannot express, in policy order, before any file is written:
/// the internal-address guard of hostname permits, local threat-feed entries, gateway-only inspection and overrides,
/// web-group rules that name destinations (Aviatrix expects Public Internet), groups past Aviatrix's size limits, the
/// default action's wider scope, and the DNS policy.
/// Rule shapes Aviatrix refuses outright (ICMP with ports, web groups or decryption on UDP/ICMP) never get here:
/// the policy core rejects them.
/// </summary>
public static class Unexpressible
{
    private const int SampleSize = 3;

    public static IReadOnlyList<ExportWarning> Find(ModuleContext context)
    {
        var warnings = new List<ExportWarning>();
        var document = context.Document;
        var file = SourceLocation.None(document.FilePath);

        foreach (var rule in context.Policy.Rules)
        {
            var r = rule.Rule;
            if (rule.Action == RuleAction.Permit && rule.HasWebGroups)
                warnings.Add(new("internal-address-guard", r.Location,
                    $"rule '{r.Name}' permits by host name: the Corral gateway never lets such a permit reach a private, loopback, link-local, " +
                    "CGNAT or platform address (168.63.129.16, 169.254.169.254, IPv6 forms embedding IPv4); Aviatrix matches the SNI and its " +
                    "Public Internet smart group, which is not the same list, so keep internal destinations denied by address (as deny-east-west does)"));
            if (rule.HasWebGroups && r.Destination.Count > 0)
                warnings.Add(new("web-group-destination", r.LocationOf("destination"),
                    $"rule '{r.Name}' has web groups and destination groups; Aviatrix expects web-group rules to target Public Internet, " +
                    "so the module keeps the policy's destinations but the controller may refuse or narrow the rule"));
            if (r.Mcp is { } mcp)
                warnings.Add(new("mcp-gateway-only", mcp.Location,
                    $"rule '{r.Name}' has an mcp section (tools {string.Join(", ", mcp.Tools.Select(t => t.Value))}{(mcp.PinTools == ToolPinning.Off ? "" : ", pinned")}): " +
                    "gateway-only; Aviatrix decrypts and permits the whole server, so only the Corral gateway decides MCP calls tool by tool"));
            if (r.WebSocket)
                warnings.Add(new("websocket-gateway-only", r.LocationOf("websocket"),
                    $"rule '{r.Name}' allows WebSocket: gateway-only; the Corral gateway inspects each message the agent sends, while Aviatrix " +
                    "decides the flow as a whole and does not read WebSocket messages"));
        }

        foreach (var credential in document.Credentials)
            warnings.Add(new("credentials-gateway-only", credential.Location,
                $"credential '{credential.Name}' ({credential.Placement}, to {string.Join(", ", credential.Destinations.Select(d => d.Value))}): gateway-only; " +
                "Aviatrix cannot put a secret into a request, so agents behind the controller alone must hold their keys themselves"));

        foreach (var threat in document.ThreatGroups)
        {
            warnings.Add(new("threat-group-threatiq", threat.Location,
                $"threat group '{threat.Name}' becomes a smart group on Aviatrix's ThreatIQ feed (external = \"threatiq\"): Aviatrix has no " +
                "threat-group resource, and ThreatIQ's list is Aviatrix's, not the local feed files"));
            var domains = threat.AllDomains.Distinct(StringComparer.Ordinal).ToList();
            if (domains.Count > 0)
                warnings.Add(new("threat-feed-domains", threat.Location,
                    $"threat group '{threat.Name}': {domains.Count} local feed domain(s) ({Sample(domains)}) cannot be given to Aviatrix " +
                    "(ThreatIQ takes no local entries, and an fqdn smart group would not cover subdomains); the feeds' addresses are carried as CIDRs " +
                    "when they fit in one smart group"));
        }
        warnings.AddRange(GroupLimits.Warnings(context));

        if (document.ServiceTags?.Region is { } region)
        {
            var unsure = document.SmartGroups
                .Where(g => g.ServiceTag is not null && g.ServiceTagResolvedName is null)
                .Select(g => g.ServiceTag!.Value).ToList();
            if (unsure.Count > 0)
                warnings.Add(new("service-tag-region", document.ServiceTags.Location,
                    $"service tags {string.Join(", ", unsure)} are pinned to region {region} in Aviatrix (ext_args.region), as the policy says; " +
                    "neither a serviceTags file nor Corral's built-in list knows them, so Corral cannot tell whether they have regional ranges, " +
                    "and a global tag pinned to a region may match nothing"));
        }

        // The default action is controller-wide and opt-in (manage_default_action): the policy's own catch-all rule is what
        // contains the agents on a shared controller.
        if (document.DefaultAction == RuleAction.Deny && !context.Policy.Rules.Any(r => Corral.Policy.Linting.PolicyLinter.IsCatchAllDeny(r.Rule)))
            warnings.Add(new("no-catch-all-rule", file,
                "defaultAction: deny is controller-wide in Aviatrix, so the module sets it only with manage_default_action = true; without it, flows no rule " +
                "matches take the controller's default (PERMIT unless its owner changed it): add a last rule denying the agents to public-internet"));
        foreach (var rule in context.Policy.Rules.Where(r => r.Rule.Source.Count == 0 || r.Rule.Source.Any(s => s.Value == PolicyDocument.Anywhere)))
            warnings.Add(new("shared-source", rule.Rule.LocationOf("source"),
                $"rule '{rule.Name}' has source anywhere: on a shared controller it decides flows of every spoke whose rules come after this module's; " +
                "name the agents' smart group as its source"));
        if (context.Options.Controller == ControllerRelease.V8_2 && context.Decrypts)
            warnings.Add(new("decrypt-needs-9.0", file,
                "per-rule decryption (decrypt_policy) needs controller 9.0, as the reference architecture says; on 8.2 the rules with " +
                "decrypt: allowed are not decrypted by Aviatrix, so their URL filters and payload checks stay with the Corral gateway (--controller 9.0)"));
        warnings.Add(new("gateway-only", file,
            "the Corral gateway's own checks have no Aviatrix equivalent and are not in the module: payload patterns and per-request inspection " +
            "of decrypted traffic, Host/SNI/CONNECT agreement (domain fronting), static hosts overrides (--hosts), and its 403 body telling agents not to retry"));
        warnings.Add(new("dns-gateway-only", file,
            $"the DNS policy (names no rule could permit are not resolved; dns: mode {document.Dns.Mode.ToString().ToLowerInvariant()} for names only address-only " +
            "permits reach; tunnelling flags) is enforced only by the Corral gateway's resolver (corral gateway --dns): Aviatrix DCF does not " +
            "see or filter DNS queries, so point the VNet's custom DNS servers at the gateways (docs/deploy-azure.md)"));
        return warnings;
    }

    private static string Sample(IReadOnlyList<string> items) =>
        string.Join(", ", items.Take(SampleSize)) + (items.Count > SampleSize ? ", …" : "");
}

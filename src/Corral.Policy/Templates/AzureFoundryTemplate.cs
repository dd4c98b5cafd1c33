using System.Text;
using Corral.Policy.Addressing;

namespace Corral.Policy.Templates;

/// <summary>Parameters of the Azure AI Foundry reference pack.</summary>
public sealed record AzureFoundryOptions
{
    public string AgentSubnet { get; init; } = "10.20.1.0/24";
    public IReadOnlyList<string> SpokeCidrs { get; init; } = ["10.30.0.0/16"];
    public string Region { get; init; } = "eastus";

    /// <summary>Approved tool-call names; empty means the reference example (an MCP server and GitHub's API, one repository owner).</summary>
    public IReadOnlyList<string> ToolFqdns { get; init; } = [];

    /// <summary>MCP tools the agent may call on the approved tool servers; empty leaves allow-tool-calls without an mcp section.</summary>
    public IReadOnlyList<string> McpTools { get; init; } = [];

    /// <summary>With <see cref="McpTools"/>: how the tool servers' definitions are pinned (Off leaves pinTools out).</summary>
    public Model.ToolPinning PinTools { get; init; } = Model.ToolPinning.Flag;

    /// <summary>Write every rule in watch mode, as the reference deploys first (the default; false writes them enforced).</summary>
    public bool Watch { get; init; } = true;
}

/// <summary>
/// Writes the reference architecture's policy pack ("Validated Containment Architecture for Azure AI Foundry
/// Agents"): its groups, its exact platform FQDN list and its six rules in order, with comments on why each is there.
/// </summary>
public static class AzureFoundryTemplate
{
    public const string Name = "azure-foundry";
    public static readonly string[] ThreatFeedFiles = ["feeds/threat-ips.txt", "feeds/threat-domains.txt"];

    /// <summary>The reference's aca-requirements-fqdns WebGroup, all DECRYPT_NOT_ALLOWED.</summary>
    public static readonly IReadOnlyList<string> PlatformFqdns =
    [
        "mcr.microsoft.com", "*.data.mcr.microsoft.com", "packages.aks.azure.com", "acs-mirror.azureedge.net",
        "*.identity.azure.net", "login.microsoftonline.com", "*.login.microsoftonline.com", "*.login.microsoft.com",
    ];

    /// <summary>Checks the options; returns the problems, empty when they are fine.</summary>
    public static IReadOnlyList<string> Validate(AzureFoundryOptions options)
    {
        var problems = new List<string>();
        if (!IpPrefix.TryParse(options.AgentSubnet, out _, out var e)) problems.Add($"--agent-subnet '{options.AgentSubnet}': {e}");
        foreach (var c in options.SpokeCidrs)
            if (!IpPrefix.TryParse(c, out _, out e)) problems.Add($"--spoke-cidr '{c}': {e}");
        foreach (var f in options.ToolFqdns)
            if (!DomainPattern.TryParse(f, out _, out e)) problems.Add($"--tool-fqdn '{f}': {e}");
        foreach (var t in options.McpTools)
            if (t.Length is 0 or > 128 || !t.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.' or '/'))
                problems.Add($"--mcp-tool '{t}': a tool name of letters, digits, '_', '-', '.' or '/'");
        if (string.IsNullOrWhiteSpace(options.Region) || !options.Region.All(char.IsAsciiLetterOrDigit))
            problems.Add($"--region '{options.Region}': an Azure region name such as eastus");
        return problems;
    }

    public static string Render(AzureFoundryOptions o)
    {
        var mode = o.Watch ? ", mode: watch" : "";
        var toolDomains = o.ToolFqdns.Count > 0 ? o.ToolFqdns : ["mcp.contoso.com", "api.github.com"];
        var toolUrls = o.ToolFqdns.Count > 0 ? "" : "\n    urls: [\"api.github.com/repos/contoso/*\"]   # URL filters need decryption (rule allow-tool-calls)";
        var pin = o.PinTools switch { Model.ToolPinning.Flag => ", pinTools: true", Model.ToolPinning.Enforce => ", pinTools: enforce", _ => "" };
        var mcp = o.McpTools.Count > 0 ? $", mcp: {{ tools: [{string.Join(", ", o.McpTools)}]{pin} }}" : "";
        var mcpComment = o.McpTools.Count > 0
            ? "\n  #    mcp: only the listed MCP tools may be called (tools/call); the servers' tool definitions are pinned on first sight."
            : "";
        var sb = new StringBuilder();
        sb.Append($$"""
# Corral policy: Azure AI Foundry hosted agents (BYOVNet), region {{o.Region}}.
# Written by `corral init --template azure-foundry` from the Aviatrix "Validated Containment
# Architecture for Azure AI Foundry Agents". Check it with `corral check`, ask it with
# `corral explain --src IP --dst HOST`, deploy it with `corral terraform -o infra`.{{(o.Watch ? WatchNote : "")}}
version: 1
name: foundry-agents-{{o.Region}}
defaultAction: deny   # when no rule matches (Aviatrix's implicit default is permit; this pack makes it deny)

smartGroups:
  # Source identity for every egress rule: the subnet delegated to Microsoft.App/environments.
  foundry-agents: { cidrs: [{{o.AgentSubnet}}] }
  # Private endpoints and workloads in adjacent spokes: the East-West deny's destination.
  other-spoke-resources: { cidrs: [{{string.Join(", ", o.SpokeCidrs)}}] }
  # Hosted-agent platform traffic by Azure Service Tag; Aviatrix keeps these current as Microsoft changes its ranges.
  aca-svctag-aad: { serviceTag: AzureActiveDirectory }
  aca-svctag-mcr: { serviceTag: MicrosoftContainerRegistry }
  aca-svctag-afd: { serviceTag: AzureFrontDoor.FirstParty }   # MicrosoftContainerRegistry depends on it
  aca-svctag-acr: { serviceTag: AzureContainerRegistry }

webGroups:
  # Platform names the hosted-agent runtime needs (Microsoft's Azure Container Apps firewall guidance).
  # Never decrypted: Microsoft's clients pin these certificates.
  # Optional for ACR-hosted images: login.microsoft.com, "*.blob.core.windows.net".
  aca-requirements-fqdns:
    domains: [{{string.Join(", ", PlatformFqdns.Select(Quote))}}]
  # Approved MCP servers, sanctioned APIs and Code Interpreter destinations.
  foundry-tool-calls:
    domains: [{{string.Join(", ", toolDomains.Select(Quote))}}]{{toolUrls}}

threatGroups:
  # Known-malicious destinations and C2 infrastructure. Aviatrix uses its ThreatIQ feed; the Corral gateway
  # reads these local files (one IP, CIDR or domain a line).
  default-threatgroup: { feeds: [{{string.Join(", ", ThreatFeedFiles)}}] }

serviceTags:
  # Point `file` at Microsoft's weekly ServiceTags_Public_*.json for the gateway to enforce service tags locally.
  # file: servicetags/ServiceTags_Public.json
  region: {{o.Region}}

rules:
  # 1. Threat intelligence first: known-bad destinations are denied before any permit is considered.
  - { name: deny-threat-intel, priority: 1, source: [foundry-agents], destination: [default-threatgroup], action: deny{{mode}} }
  # 2. Platform FQDNs the runtime needs (token acquisition, image pulls); spliced, never decrypted. Must precede default deny.
  - { name: allow-aca-fqdn, priority: 2, source: [foundry-agents], webGroups: [aca-requirements-fqdns], action: permit, decrypt: not-allowed, ports: [443]{{mode}} }
  # 3. The same platform by Service Tag address ranges (MCR, Front Door, ACR, AAD); spliced, never decrypted.
  #    By address alone, so TLS is required: nothing but a TLS handshake reaches these ranges.
  - { name: allow-aca-svctag, priority: 3, source: [foundry-agents], destination: [aca-svctag-aad, aca-svctag-mcr, aca-svctag-afd, aca-svctag-acr], action: permit, decrypt: not-allowed, ports: [443], requireTls: true{{mode}} }
  # 4. Approved tool calls; decryption allowed so URL filters and payload inspection can see inside.{{mcpComment}}
  - { name: allow-tool-calls, priority: 4, source: [foundry-agents], webGroups: [foundry-tool-calls], action: permit, decrypt: allowed, ports: [443]{{mode}}{{mcp}} }
  # 5. Everything else on the internet: the exfiltration and supply-chain paths. Every deny is logged.
  - { name: default-deny-internet, priority: 5, source: [foundry-agents], destination: [public-internet], action: deny{{mode}} }
  # 6. Lateral movement to adjacent spokes' private endpoints and workloads.
  - { name: deny-east-west, priority: 6, source: [foundry-agents], destination: [other-spoke-resources], action: deny{{mode}} }

tls:
  # allow-tool-calls decrypts: run `corral ca init --out corral-ca`, then uncomment (agents and the controller must trust it).
  # interceptionCa: corral-ca/corral-ca.crt

""");
        return sb.ToString();
    }

    private const string WatchNote = "\n\n# Every rule starts in watch mode: it logs what it would do and blocks nothing. Once the logs\n" +
                                     "# (and `corral replay`) show a rule blocks only what it should, promote it: mode: enforce.";

    /// <summary>The empty threat feed files, with a comment on where feeds come from.</summary>
    public static string FeedFileText(string kind) => $"""
# Corral threat feed ({kind}): one entry a line; '#' and ';' start comments.
# Entries: an IP (203.0.113.7), a CIDR (198.51.100.0/24), or a domain (evil.example: covers its subdomains).
# Sources: your threat-intelligence platform's export, Spamhaus DROP (CIDR ; SBLnnn lines work as they are),
# abuse.ch feeds. Aviatrix deployments use ThreatIQ instead; this file is what the Corral gateway enforces.

""";

    private static string Quote(string domain) => domain.StartsWith('*') ? $"\"{domain}\"" : domain;
}

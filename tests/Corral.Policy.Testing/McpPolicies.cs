namespace Corral.Testing;

/// <summary>Small policies for tests of a rule's mcp section: agents in 10.20.1.0/24 and one web group, tools (mcp.contoso.com).</summary>
public static class McpPolicies
{
    /// <summary>The policy with <paramref name="rule"/> (one YAML list item, indented two spaces) as its only rule.</summary>
    public static string WithRule(string rule) => $"""
        version: 1
        smartGroups:
          agents: {"{"} cidrs: [10.20.1.0/24] {"}"}
        webGroups:
          tools: {"{"} domains: [mcp.contoso.com] {"}"}
        rules:
        {rule}
        """;

    /// <summary>The start of a decrypting permit named tools, to be finished with its last key and the closing brace.</summary>
    public const string DecryptingPermit = "  - { name: tools, priority: 1, source: [agents], webGroups: [tools], action: permit, decrypt: allowed, ports: [443], ";
}

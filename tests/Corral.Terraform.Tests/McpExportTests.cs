using Corral.Policy.Templates;
using Corral.Testing;

namespace Corral.Terraform.Tests;

/// <summary>An mcp section has no Aviatrix form: the module lists such rules as gateway-only.</summary>
public sealed class McpExportTests
{
    [Fact]
    public void A_rule_with_an_mcp_section_is_reported_as_gateway_only()
    {
        using var dir = new TempFolder("corral-tf-");
        var policy = FoundryPack.Compile(FoundryPack.Write(dir, new AzureFoundryOptions { ToolFqdns = ["mcp.contoso.com"], McpTools = ["search_docs"] }));
        var warning = Assert.Single(TerraformExporter.Export(policy).Warnings, w => w.Code == "mcp-gateway-only");
        Assert.Contains("allow-tool-calls", warning.Message);
        Assert.Contains("search_docs", warning.Message);
    }

    [Fact]
    public void Without_an_mcp_section_there_is_no_such_warning()
    {
        using var dir = new TempFolder("corral-tf-");
        var policy = FoundryPack.Compile(FoundryPack.Write(dir, new AzureFoundryOptions()));
        Assert.DoesNotContain(TerraformExporter.Export(policy).Warnings, w => w.Code == "mcp-gateway-only");
    }
}

/// <summary>WebSocket messages are read by the gateway alone: a rule that allows them is reported as gateway-only, at its field.</summary>
public sealed class WebSocketExportTests
{
    [Fact]
    public void A_rule_that_allows_WebSocket_is_reported_as_gateway_only()
    {
        using var dir = new TempFolder("corral-tf-");
        var path = FoundryPack.Write(dir, new AzureFoundryOptions());
        File.WriteAllText(path, File.ReadAllText(path).Replace("decrypt: allowed, ports: [443]", "decrypt: allowed, ports: [443], websocket: allow"));
        var warnings = TerraformExporter.Export(FoundryPack.Compile(path)).Warnings.Where(w => w.Code == "websocket-gateway-only").ToList();
        Assert.NotEmpty(warnings);
        Assert.All(warnings, w => Assert.True(w.Location.Line > 0 && w.Message.Contains("gateway-only")));
        Assert.DoesNotContain(TerraformExporter.Export(FoundryPack.Compile(FoundryPack.Write(dir, new AzureFoundryOptions()))).Warnings, w => w.Code == "websocket-gateway-only");
    }
}

/// <summary>Credentials are the gateway's alone: the module says so and never carries a value.</summary>
public sealed class CredentialExportTests
{
    [Fact]
    public void A_credential_is_reported_as_gateway_only_and_its_value_is_in_no_generated_file()
    {
        using var dir = new TempFolder("corral-tf-");
        const string Secret = "tf-secret-value-4d1c9a";
        File.WriteAllText(Path.Combine(dir.Path, "mcp.token"), Secret);
        var yaml = """
            version: 1
            smartGroups:
              agents: { cidrs: [10.20.1.0/24] }
            webGroups:
              mcp: { domains: [mcp.contoso.com] }
            rules:
              - { name: tools, priority: 10, source: [agents], webGroups: [mcp], action: permit, decrypt: allowed }
              - { name: deny-rest, priority: 100, source: [agents], destination: [public-internet], action: deny }
            credentials:
              mcp-token: { source: { file: mcp.token }, destinations: [mcp], header: Authorization }
            """;
        var path = Path.Combine(dir.Path, "corral.yaml");
        File.WriteAllText(path, yaml);
        var module = TerraformExporter.Export(FoundryPack.Compile(path));
        var warning = Assert.Single(module.Warnings, w => w.Code == "credentials-gateway-only");
        Assert.Contains("mcp-token", warning.Message);
        Assert.NotEmpty(module.Files);
        Assert.All(module.Files, f => Assert.DoesNotContain(Secret, f.Value));
    }
}

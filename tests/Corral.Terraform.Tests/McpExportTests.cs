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

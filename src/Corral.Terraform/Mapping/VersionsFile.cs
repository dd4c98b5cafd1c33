using Corral.Terraform.Hcl;

namespace Corral.Terraform.Mapping;

/// <summary>versions.tf: Terraform and provider version constraints, and the azurerm provider's required features block.</summary>
public static class VersionsFile
{
    public const string FileName = "versions.tf";
    public const string AviatrixConstraint = ">= 8.2, < 10.0";
    public const string AzurermConstraint = "~> 4.0";

    public static string Write(ModuleContext context)
    {
        var file = new HclBody();
        file.Comment($"Providers of the module for policy {context.Document.Name} ({context.PolicyFileName}), written by `corral terraform`.");
        file.Comment("Aviatrix: controller 8.2 or later (per-rule decrypt_policy needs 9.0, as the reference architecture says).");
        file.TopBlock("terraform", [], b => b
            .Attribute("required_version", ">= 1.5.0")
            .Blank()
            .Block("required_providers", p => p
                .Attribute("aviatrix", Provider("AviatrixSystems/aviatrix", AviatrixConstraint))
                .Attribute("azurerm", Provider("hashicorp/azurerm", AzurermConstraint))));
        file.TopBlock("provider", ["azurerm"], b => b
            .Expression("subscription_id", "var.azure_subscription_id")
            .Block("features", _ => { }),
            "Aviatrix controller credentials come from the provider's own settings (see its documentation), never from this module.");
        return HclWriter.Write(file);
    }

    private static HclObject Provider(string source, string version) =>
        new([new("source", HclExpression.Of(source)), new("version", HclExpression.Of(version))]);
}

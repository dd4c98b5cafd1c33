using Corral.Terraform.Hcl;

namespace Corral.Terraform.Mapping;

/// <summary>versions.tf: Terraform and provider version constraints, and the azurerm provider's required features block.</summary>
public static class VersionsFile
{
    public const string FileName = "versions.tf";
    public const string AzurermConstraint = "~> 4.0";

    /// <summary>
    /// The provider pinned to the controller's release line: the provider refuses a controller of another major.minor
    /// (unless AVIATRIX_SKIP_VERSION_VALIDATION is set), so a range across lines lets `terraform init` pick one that fails.
    /// </summary>
    public static string AviatrixConstraint(ControllerRelease release) => release == ControllerRelease.V8_2 ? "~> 8.2.0" : "~> 9.0.0";

    public static string ReleaseName(ControllerRelease release) => release == ControllerRelease.V8_2 ? "8.2" : "9.0";

    public static string Write(ModuleContext context)
    {
        var release = context.Options.Controller;
        var file = new HclBody();
        file.Comment($"Providers of the module for policy {context.Document.Name} ({context.PolicyFileName}), written by `corral terraform`.");
        file.Comment($"Aviatrix: pinned to controller release {ReleaseName(release)} (`corral terraform --controller`); the provider refuses a controller");
        file.Comment("of another release line. Per-rule decrypt_policy needs 9.0, as the reference architecture says.");
        file.TopBlock("terraform", [], b => b
            .Attribute("required_version", ">= 1.5.0")
            .Blank()
            .Block("required_providers", p => p
                .Attribute("aviatrix", Provider("AviatrixSystems/aviatrix", AviatrixConstraint(release)))
                .Attribute("azurerm", Provider("hashicorp/azurerm", AzurermConstraint))));
        file.TopBlock("provider", ["azurerm"], b => b
            .Expression("subscription_id", "var.azure_subscription_id")
            .Block("features", _ => { }),
            "Aviatrix controller credentials come from AVIATRIX_CONTROLLER_IP, AVIATRIX_USERNAME and AVIATRIX_PASSWORD, never from this module.");
        return HclWriter.Write(file);
    }

    private static HclObject Provider(string source, string version) =>
        new([new("source", HclExpression.Of(source)), new("version", HclExpression.Of(version))]);
}

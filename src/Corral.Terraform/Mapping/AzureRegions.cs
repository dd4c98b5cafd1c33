namespace Corral.Terraform.Mapping;

/// <summary>Azure region names as policies write them (eastus) and as the Aviatrix spoke gateway's vpc_reg wants them (East US).</summary>
public static class AzureRegions
{
    private static readonly Dictionary<string, string> DisplayNames = new(StringComparer.OrdinalIgnoreCase)
    {
        ["eastus"] = "East US", ["eastus2"] = "East US 2", ["centralus"] = "Central US", ["northcentralus"] = "North Central US",
        ["southcentralus"] = "South Central US", ["westcentralus"] = "West Central US", ["westus"] = "West US", ["westus2"] = "West US 2",
        ["westus3"] = "West US 3", ["canadacentral"] = "Canada Central", ["canadaeast"] = "Canada East", ["brazilsouth"] = "Brazil South",
        ["northeurope"] = "North Europe", ["westeurope"] = "West Europe", ["uksouth"] = "UK South", ["ukwest"] = "UK West",
        ["francecentral"] = "France Central", ["germanywestcentral"] = "Germany West Central", ["swedencentral"] = "Sweden Central",
        ["switzerlandnorth"] = "Switzerland North", ["norwayeast"] = "Norway East", ["polandcentral"] = "Poland Central",
        ["italynorth"] = "Italy North", ["spaincentral"] = "Spain Central", ["australiaeast"] = "Australia East",
        ["australiasoutheast"] = "Australia Southeast", ["japaneast"] = "Japan East", ["japanwest"] = "Japan West",
        ["koreacentral"] = "Korea Central", ["southeastasia"] = "Southeast Asia", ["eastasia"] = "East Asia",
        ["centralindia"] = "Central India", ["southindia"] = "South India", ["uaenorth"] = "UAE North",
        ["southafricanorth"] = "South Africa North", ["qatarcentral"] = "Qatar Central",
    };

    /// <summary>The display name of a region, or null when this table does not know it.</summary>
    public static string? DisplayName(string? region) =>
        region is not null && DisplayNames.TryGetValue(region, out var name) ? name : null;
}

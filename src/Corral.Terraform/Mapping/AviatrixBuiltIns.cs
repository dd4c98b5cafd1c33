namespace Corral.Terraform.Mapping;

/// <summary>
/// Aviatrix's built-in smart groups, which have fixed UUIDs. They appear in the provider's acceptance tests and in
/// community blueprints, not in Aviatrix's published resource docs; the module names them in locals so one place
/// changes if Aviatrix ever does.
/// </summary>
public static class AviatrixBuiltIns
{
    public const string AnywhereUuid = "def000ad-0000-0000-0000-000000000000";
    public const string PublicInternetUuid = "def000ad-0000-0000-0000-000000000001";

    public const string AnywhereLocal = "local.anywhere_uuid";
    public const string PublicInternetLocal = "local.public_internet_uuid";
}

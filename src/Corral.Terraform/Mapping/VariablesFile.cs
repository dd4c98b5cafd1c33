using Corral.Terraform.Hcl;

namespace Corral.Terraform.Mapping;

/// <summary>variables.tf: what the policy cannot know (accounts, the VNet, the gateway subnet), with defaults from the policy where it can.</summary>
public static class VariablesFile
{
    public const string FileName = "variables.tf";
    public const string DefaultGatewaySize = "Standard_B2ms";

    public static string Write(ModuleContext context)
    {
        var file = new HclBody();
        var document = context.Document;
        file.Comment($"Inputs of the module for policy {document.Name} ({context.PolicyFileName}), written by `corral terraform`.");
        file.Comment("Variables without a default must be set (terraform.tfvars or -var).");

        Variable(file, "azure_subscription_id", "string", "The Azure subscription of the Foundry spoke VNet (null: ARM_SUBSCRIPTION_ID).", HclExpression.Raw("null"));
        Variable(file, "aviatrix_account_name", "string", "The Azure access account onboarded in the Aviatrix controller.");
        Variable(file, "resource_group_name", "string", "The resource group of the existing Foundry spoke VNet.");
        Variable(file, "vnet_name", "string", "The existing Foundry spoke VNet (BYOVNet), in the same region as the Foundry account.");
        Variable(file, "agent_subnet_name", "string", "The hosted-agent subnet to create, delegated to Microsoft.App/environments.", HclExpression.Of("snet-foundry-agents"));
        // Without an agent smart group there is nothing to match by subnet, so the switch is not declared.
        if (context.AgentGroup is null)
            Variable(file, "agent_subnet_cidr", "string", "The hosted-agent subnet's address range (/27 at least, /24 recommended).");
        else
            Variable(file, "agent_smart_group_by_subnet", "bool",
                "Match the agent smart group by Aviatrix's subnet discovery (type = \"subnet\") instead of by CIDR.", HclExpression.Of(false));
        Variable(file, "gateway_subnet_name", "string", "The subnet to create for the Aviatrix spoke gateways.", HclExpression.Of("snet-aviatrix-gateway"));
        Variable(file, "gateway_subnet_cidr", "string", "The gateway subnet's address range, inside the VNet's address space.");
        var region = document.ServiceTags?.Region;
        var display = AzureRegions.DisplayName(region);
        Variable(file, "aviatrix_region", "string",
            "The Azure region as Aviatrix names it (vpc_reg, e.g. \"East US\"): the Foundry account's region.",
            display is null ? null : HclExpression.Of(display));
        Variable(file, "gateway_name", "string", "The spoke gateway's name in Aviatrix.",
            HclExpression.Of(ResourceNames.Sanitize(document.Name).Replace('_', '-') + "-spoke"));
        Variable(file, "gateway_size", "string", "The size of each gateway of the HA pair.", HclExpression.Of(DefaultGatewaySize));
        Variable(file, "gateway_zone", "string", "The availability zone of the primary gateway.", HclExpression.Of("az-1"));
        Variable(file, "ha_gateway_zone", "string", "The availability zone of the HA gateway.", HclExpression.Of("az-2"));
        Variable(file, "manage_dcf_config", "bool",
            "Turn Distributed Cloud Firewall on for the controller (a controller-wide setting; false where another configuration owns it).",
            HclExpression.Of(context.Options.Gateway == GatewayMode.Standalone));
        if (context.Options.Gateway == GatewayMode.Transit)
            Variable(file, "transit_gateway_name", "string", "The existing Aviatrix transit gateway to attach the spoke to.",
                context.Options.TransitGatewayName is { } transit ? HclExpression.Of(transit) : null);
        return HclWriter.Write(file);
    }

    private static void Variable(HclBody file, string name, string type, string description, HclExpression? defaultValue = null) =>
        file.TopBlock("variable", [name], b =>
        {
            b.Attribute("description", description);
            b.Expression("type", type);
            if (defaultValue is not null) b.Attribute("default", defaultValue);
        });
}

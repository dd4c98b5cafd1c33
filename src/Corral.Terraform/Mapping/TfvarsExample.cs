using System.Text;

namespace Corral.Terraform.Mapping;

/// <summary>terraform.tfvars.example: every input to set, with example values, and the controller-wide opt-ins, commented out.</summary>
public static class TfvarsExample
{
    public const string FileName = "terraform.tfvars.example";

    public static string Write(ModuleContext context)
    {
        var o = context.Options;
        var sb = new StringBuilder();
        sb.Append($"# Inputs of the module for policy {context.Document.Name}: copy to terraform.tfvars and set them.\n");
        sb.Append("# Controller credentials are not inputs: export AVIATRIX_CONTROLLER_IP, AVIATRIX_USERNAME, AVIATRIX_PASSWORD.\n\n");
        sb.Append("instance_name         = \"foundry-eastus\" # unique per controller: every object's name starts with it\n");
        sb.Append("aviatrix_account_name = \"azure-prod\"\n");
        sb.Append("resource_group_name   = \"rg-foundry-eastus\"\n");
        sb.Append("vnet_name             = \"vnet-foundry-eastus\"\n");
        sb.Append("agent_subnet_name     = \"snet-foundry-agents\" # the existing subnet the Foundry account uses (BYOVNet)\n");
        sb.Append("gateway_subnet_cidr   = \"10.20.0.0/28\"\n");
        if (AzureRegions.DisplayName(context.Document.ServiceTags?.Region) is null) sb.Append("aviatrix_region       = \"East US\"\n");
        if (o.Gateway == GatewayMode.Transit && o.TransitGatewayName is null) sb.Append("transit_gateway_name  = \"transit-eastus\"\n");
        sb.Append("# create_agent_subnet = true # only where the Foundry account is not deployed yet\n");
        if (context.AgentGroup is null) sb.Append("# agent_subnet_cidr   = \"10.20.1.0/24\" # with create_agent_subnet\n");
        if (context.Decrypts)
        {
            sb.Append("\n# This policy decrypts: the controller's active interception CA must be trusted by the hosted agent containers.\n");
            sb.Append("# To make this module's CA the active one (controller-wide), from `corral ca init` or your own:\n");
            sb.Append($"# {VariablesFile.ManageMitmCa}           = true\n");
            sb.Append(context.Document.Tls.InterceptionCa is { } ca
                ? $"# mitm_ca_certificate_file = \"{VariablesFile.InterceptionCaFile}\" # the default: a copy of the policy's tls.interceptionCa ({ca.Path})\n"
                : "# mitm_ca_certificate_file = \"../corral-ca/corral-ca.crt\"\n");
            sb.Append("# mitm_ca_private_key_file = \"../corral-ca/corral-ca.key\"\n");
        }
        sb.Append("\n# Controller-wide objects: leave these false on a controller that serves other spokes (README.md).\n");
        sb.Append($"# {VariablesFile.ManageDcfFeature} = true\n");
        sb.Append($"# {VariablesFile.ManageDefaultAction} = true\n");
        if (o.Ruleset == RulesetKind.DcfRuleset)
        {
            sb.Append($"# {VariablesFile.ManageDcfRoot} = true # this module owns the policy group at TERRAFORM_BEFORE_UI_MANAGED\n");
            sb.Append("# dcf_root_attachment_points = [\"corral-foundry-westeurope\"] # the other modules' attachment points\n");
        }
        else sb.Append($"{VariablesFile.ReplacePolicyList} = false # true replaces the controller's whole DCF policy list\n");
        return sb.ToString();
    }
}

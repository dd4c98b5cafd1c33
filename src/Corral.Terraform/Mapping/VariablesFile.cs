using Corral.Terraform.Hcl;

namespace Corral.Terraform.Mapping;

/// <summary>
/// variables.tf: what the policy cannot know (the instance name, accounts, the VNet and its subnets, where the rules
/// attach), with defaults from the policy where it can, a validation for each input that has a shape, and every
/// controller-wide setting as an opt-in that defaults to off.
/// </summary>
public static class VariablesFile
{
    public const string FileName = "variables.tf";
    public const string DefaultGatewaySize = "Standard_B2ms";

    /// <summary>The opt-in variables, each of which lets the module own one controller-wide object; all default to false.</summary>
    public const string ManageDcfFeature = "manage_dcf_feature";
    public const string ManageDefaultAction = "manage_default_action";
    public const string ManageDcfRoot = "manage_dcf_root_policy_group";
    public const string ManageMitmCa = "manage_mitm_ca";

    /// <summary>
    /// The copy of the policy's <c>tls.interceptionCa</c> written beside the module: the default of mitm_ca_certificate_file,
    /// a bare name, which Terraform's file() reads from the directory terraform runs in: the module's own.
    /// </summary>
    public const string InterceptionCaFile = "interception-ca.crt";
    public const string ReplacePolicyList = "replace_controller_policy_list";

    private const string CidrCondition = "can(cidrhost({0}, 0)) && can(regex(\"^[0-9.]+/[0-9]+$\", {0}))";
    private const string ZoneCondition = "can(regex(\"^az-[1-3]$\", {0}))";

    public static string Write(ModuleContext context)
    {
        var file = new HclBody();
        var document = context.Document;
        var o = context.Options;
        file.Comment($"Inputs of the module for policy {document.Name} ({context.PolicyFileName}), written by `corral terraform`.");
        file.Comment("Variables without a default must be set: copy terraform.tfvars.example to terraform.tfvars.");

        Variable(file, "instance_name", "string",
            "This deployment's name, first in the name of every object it makes in Aviatrix and Azure (e.g. \"foundry-eastus\"): unique per controller.",
            validation: ("can(regex(\"^[a-z][a-z0-9-]{1,22}[a-z0-9]$\", var.instance_name))",
                "The instance_name must be 3 to 24 lower-case letters, digits and dashes, starting with a letter."));
        Variable(file, "azure_subscription_id", "string", "The Azure subscription of the Foundry spoke VNet (null: ARM_SUBSCRIPTION_ID).", HclExpression.Raw("null"));
        Variable(file, "aviatrix_account_name", "string", "The Azure access account onboarded in the Aviatrix controller.");
        Variable(file, "resource_group_name", "string", "The resource group of the existing Foundry spoke VNet.");
        Variable(file, "vnet_name", "string", "The existing Foundry spoke VNet (BYOVNet), in the same region as the Foundry account.");

        Variable(file, "agent_subnet_name", "string",
            "The hosted-agent subnet, delegated to Microsoft.App/environments: the existing one the Foundry account uses (BYOVNet), or the one to create with create_agent_subnet.");
        Variable(file, "create_agent_subnet", "bool",
            "Create the agent subnet instead of taking the existing one (only where the Foundry account is not deployed yet).", HclExpression.Of(false));
        // Without an agent smart group the policy knows no range, so creating the subnet needs one.
        if (context.AgentGroup is null)
            Variable(file, "agent_subnet_cidr", "string", "The range of the agent subnet to create (create_agent_subnet; /27 at least, /24 recommended).",
                HclExpression.Raw("null"), ("var.agent_subnet_cidr == null || " + string.Format(CidrCondition, "var.agent_subnet_cidr"),
                    "The agent_subnet_cidr must be an IPv4 CIDR such as 10.20.1.0/24, or null."));
        else
            Variable(file, "agent_smart_group_by_subnet", "bool",
                "Match the agent smart group by Aviatrix's subnet discovery (type = \"subnet\") instead of by CIDR.", HclExpression.Of(false));
        Variable(file, "gateway_subnet_name", "string", "The subnet to create for the Aviatrix spoke gateways.", HclExpression.Of("snet-aviatrix-gateway"));
        Variable(file, "gateway_subnet_cidr", "string", "The gateway subnet's address range, inside the VNet's address space (/28 at least).",
            validation: (string.Format(CidrCondition, "var.gateway_subnet_cidr"), "The gateway_subnet_cidr must be an IPv4 CIDR such as 10.20.0.0/28."));
        var display = AzureRegions.DisplayName(document.ServiceTags?.Region);
        Variable(file, "aviatrix_region", "string",
            "The Azure region as Aviatrix names it (vpc_reg, e.g. \"East US\"): the Foundry account's region.",
            display is null ? null : HclExpression.Of(display));
        Variable(file, "gateway_size", "string", "The size of each gateway of the HA pair.", HclExpression.Of(DefaultGatewaySize));
        Variable(file, "gateway_zone", "string", "The availability zone of the primary gateway (az-1, az-2 or az-3).", HclExpression.Of("az-1"),
            (string.Format(ZoneCondition, "var.gateway_zone"), "The gateway_zone must be az-1, az-2 or az-3."));
        Variable(file, "ha_gateway_zone", "string", "The availability zone of the HA gateway (az-1, az-2 or az-3; not the primary's).", HclExpression.Of("az-2"),
            (string.Format(ZoneCondition, "var.ha_gateway_zone"), "The ha_gateway_zone must be az-1, az-2 or az-3."));
        if (o.Gateway == GatewayMode.Transit)
            Variable(file, "transit_gateway_name", "string", "The existing Aviatrix transit gateway to attach the spoke to.",
                o.TransitGatewayName is { } transit ? HclExpression.Of(transit) : null);

        if (o.Ruleset == RulesetKind.DcfRuleset)
        {
            Variable(file, "dcf_attachment_point", "string",
                "The DCF attachment point the rules attach to (null: \"corral-<instance_name>\"). It must exist: a policy group at " +
                "TERRAFORM_BEFORE_UI_MANAGED declares it (manage_dcf_root_policy_group, or your own; see README.md).", HclExpression.Raw("null"));
            Variable(file, ManageDcfRoot, "bool",
                "Controller-wide: own the one policy group at TERRAFORM_BEFORE_UI_MANAGED, declaring this module's attachment point and " +
                "dcf_root_attachment_points. Only in the one module (or configuration) that owns the root; destroy it last.", HclExpression.Of(false));
            Variable(file, "dcf_root_attachment_points", "list(string)",
                "With manage_dcf_root_policy_group: the other modules' attachment points the root declares, in priority order after this module's.",
                HclExpression.Raw("[]"));
        }
        else
            Variable(file, ReplacePolicyList, "bool",
                "This module was written with --ruleset policy-list: it replaces the controller's whole DCF policy list, every rule of every " +
                "other spoke included. Set true to confirm; plan refuses otherwise.", HclExpression.Of(false),
                ("var." + ReplacePolicyList, "This module replaces the controller's whole DCF policy list: set replace_controller_policy_list = true only on a controller that serves nothing else."));
        Variable(file, ManageDcfFeature, "bool",
            "Controller-wide: switch Distributed Cloud Firewall on (" + DcfFile.DcfFeatureResource(o.Controller) + "); destroying the module then " +
            "switches it off for every gateway. Leave false where DCF is already on.", HclExpression.Of(false));
        Variable(file, ManageDefaultAction, "bool",
            "Controller-wide: set the DCF default action (what happens to flows no rule of any ruleset matches) to the policy's defaultAction. " +
            "The policy's own catch-all rule already contains the agents without it.", HclExpression.Of(false));
        if (context.Decrypts)
        {
            Variable(file, ManageMitmCa, "bool",
                "Controller-wide: upload mitm_ca_certificate_file and mitm_ca_private_key_file and make them the controller's active TLS " +
                "interception CA, which signs every decrypted connection on the controller. False: the CA already active is used.", HclExpression.Of(false));
            var declared = context.Document.Tls.InterceptionCa;
            Variable(file, "mitm_ca_certificate_file", "string", declared is null
                    ? "PEM file of the interception CA certificate (`corral ca init` writes corral-ca/corral-ca.crt, or your own CA): " +
                      "the hosted agent containers must trust it."
                    : $"PEM file of the interception CA certificate; the default is the copy of the policy's tls.interceptionCa ({declared.Path}) " +
                      "beside this module, read from the directory terraform runs in (this one). The hosted agent containers must trust it.",
                declared is null ? HclExpression.Raw("null") : HclExpression.Of(InterceptionCaFile));
            Variable(file, "mitm_ca_private_key_file", "string",
                "PEM file of the interception CA's private key (with manage_mitm_ca; it is kept in the Terraform state, marked sensitive).",
                HclExpression.Raw("null"));
        }
        return HclWriter.Write(file);
    }

    private static void Variable(HclBody file, string name, string type, string description, HclExpression? defaultValue = null,
        (string Condition, string Message)? validation = null) =>
        file.TopBlock("variable", [name], b =>
        {
            b.Attribute("description", description);
            b.Expression("type", type);
            if (defaultValue is not null) b.Attribute("default", defaultValue);
            if (validation is { } v)
            {
                b.Blank();
                b.Block("validation", x => x.Expression("condition", v.Condition).Attribute("error_message", v.Message));
            }
        });
}

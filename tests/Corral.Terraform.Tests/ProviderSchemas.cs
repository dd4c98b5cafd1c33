namespace Corral.Terraform.Tests;

/// <summary>The arguments and nested blocks a resource accepts.</summary>
internal sealed record BlockSchema(IReadOnlySet<string> Attributes, IReadOnlyDictionary<string, BlockSchema> Blocks)
{
    public static BlockSchema Of(string attributes, params (string Name, BlockSchema Schema)[] blocks) =>
        new(attributes.Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal),
            blocks.ToDictionary(b => b.Name, b => b.Schema, StringComparer.Ordinal));
}

/// <summary>
/// Argument names of the resources the module writes, transcribed from the providers' published docs
/// (AviatrixSystems/terraform-provider-aviatrix docs/resources/*.md and docs/data-sources/*.md;
/// hashicorp/terraform-provider-azurerm website/docs/r/*.html.markdown and d/virtual_network.html.markdown).
/// A generated argument missing here is a name the docs do not have.
/// </summary>
internal static class ProviderSchemas
{
    private static readonly BlockSchema DcfRule = BlockSchema.Of(
        "name action priority protocol src_smart_groups dst_smart_groups web_groups flow_app_requirement decrypt_policy " +
        "exclude_sg_orchestration watch logging tls_profile log_profile",
        ("port_ranges", BlockSchema.Of("lo hi")));

    public static readonly IReadOnlyDictionary<string, BlockSchema> Resources = new Dictionary<string, BlockSchema>(StringComparer.Ordinal)
    {
        ["aviatrix_smart_group"] = BlockSchema.Of("name",
            ("selector", BlockSchema.Of("", ("match_expressions", BlockSchema.Of(
                "cidr fqdn site type res_id account_id account_name name region zone k8s_cluster_id k8s_namespace k8s_service k8s_pod s2c external ext_args tags"))))),
        ["aviatrix_web_group"] = BlockSchema.Of("name",
            ("selector", BlockSchema.Of("", ("match_expressions", BlockSchema.Of("snifilter urlfilter"))))),
        ["aviatrix_dcf_ruleset"] = BlockSchema.Of("name attach_to", ("rules", DcfRule)),
        ["aviatrix_distributed_firewalling_policy_list"] = BlockSchema.Of("", ("policies", DcfRule)),
        ["aviatrix_distributed_firewalling_default_action_rule"] = BlockSchema.Of("action logging"),
        ["aviatrix_distributed_firewalling_config"] = BlockSchema.Of("enable_distributed_firewalling"),
        ["aviatrix_spoke_gateway"] = BlockSchema.Of(
            "cloud_type account_name gw_name vpc_id vpc_reg gw_size subnet availability_domain fault_domain single_az_ha ha_subnet ha_zone " +
            "ha_insane_mode_az ha_eip ha_azure_eip_name_resource_group ha_gw_size insane_mode insane_mode_az single_ip_snat enable_vpc_dns_server " +
            "zone manage_transit_gateway_attachment transit_gw enable_jumbo_frame tags tunnel_detection_time enable_bgp allocate_new_eip eip " +
            "azure_eip_name_resource_group enable_active_standby"),
        ["aviatrix_spoke_transit_attachment"] = BlockSchema.Of(
            "spoke_gw_name transit_gw_name route_tables tunnel_count enable_max_performance spoke_prepend_as_path transit_prepend_as_path"),
        ["azurerm_subnet"] = BlockSchema.Of(
            "name resource_group_name virtual_network_name address_prefixes service_endpoints service_endpoint_policy_ids",
            ("delegation", BlockSchema.Of("name", ("service_delegation", BlockSchema.Of("name actions"))))),
        ["azurerm_route_table"] = BlockSchema.Of("name resource_group_name location tags",
            ("route", BlockSchema.Of("name address_prefix next_hop_type next_hop_in_ip_address"))),
        ["azurerm_subnet_route_table_association"] = BlockSchema.Of("route_table_id subnet_id"),
    };

    public static readonly IReadOnlyDictionary<string, BlockSchema> DataSources = new Dictionary<string, BlockSchema>(StringComparer.Ordinal)
    {
        ["aviatrix_dcf_attachment_point"] = BlockSchema.Of("name attachment_point_id"),
        ["azurerm_virtual_network"] = BlockSchema.Of("name resource_group_name"),
    };

    /// <summary>Terraform's own meta-arguments, valid in every resource.</summary>
    public static readonly IReadOnlySet<string> MetaArguments = new HashSet<string>(StringComparer.Ordinal) { "count", "for_each", "depends_on", "provider", "lifecycle" };
}

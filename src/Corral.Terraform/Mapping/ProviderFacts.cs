namespace Corral.Terraform.Mapping;

/// <summary>A fact about a provider's schema the module relies on, and the documentation file it was checked against.</summary>
public sealed record ProviderFact(string Statement, string Source);

/// <summary>The provider facts behind every resource and argument the module writes (listed in the module README).</summary>
public static class ProviderFacts
{
    private const string Avx = "AviatrixSystems/terraform-provider-aviatrix ";
    private const string Azr = "hashicorp/terraform-provider-azurerm ";

    public static readonly IReadOnlyList<ProviderFact> All =
    [
        new("`aviatrix_smart_group`: `name`, `selector { match_expressions { … } }` (blocks are ORed); `cidr` stands alone in its block; " +
            "`type` = \"subnet\" with `name`, `account_name`; `external` = \"azureips\" with `ext_args` { `service_name`, `region` }; " +
            "`external` = \"threatiq\"; exports `uuid`", Avx + "docs/resources/aviatrix_smart_group.md"),
        new("`aviatrix_web_group`: `name`, `selector { match_expressions { snifilter | urlfilter } }`, never both in one block; exports `uuid`",
            Avx + "docs/resources/aviatrix_web_group.md"),
        new("`aviatrix_dcf_ruleset`: `name`, `attach_to` (in the provider's schema at v8.2.0 and v9.0.10, though the doc lists it only in its example), `rules { name, action (PERMIT|DENY), priority, protocol (TCP|UDP|ICMP|ANY), " +
            "src_smart_groups, dst_smart_groups, web_groups, flow_app_requirement (TLS_REQUIRED), decrypt_policy (DECRYPT_ALLOWED|DECRYPT_NOT_ALLOWED), " +
            "watch, logging, port_ranges { lo, hi } }`; `port_ranges` not with ICMP; `hi` optional (then `lo` is the only port)",
            Avx + "docs/resources/aviatrix_dcf_ruleset.md"),
        new("`data \"aviatrix_dcf_attachment_point\"` { `name` = \"TERRAFORM_BEFORE_UI_MANAGED\" } exports `id`",
            Avx + "docs/data-sources/aviatrix_dcf_attachment_point.md"),
        new("`aviatrix_distributed_firewalling_policy_list`: `policies { … }` with the same rule arguments (web_groups, decrypt_policy, " +
            "flow_app_requirement since provider 3.1.0)", Avx + "docs/resources/aviatrix_distributed_firewalling_policy_list.md"),
        new("`aviatrix_distributed_firewalling_default_action_rule`: `action` (PERMIT|DENY), `logging`; with DCF on, the implicit default is PERMIT, logging off",
            Avx + "docs/resources/aviatrix_distributed_firewalling_default_action_rule.md"),
        new("`aviatrix_distributed_firewalling_config`: `enable_distributed_firewalling`; deprecated from 9.0 for `aviatrix_config_feature`; its delete disables DCF",
            Avx + "docs/resources/aviatrix_distributed_firewalling_config.md"),
        new("`aviatrix_config_feature` (9.0+): `feature_name` = \"microseg\" (DCF, as goaviatrix/distributed_firewalling_config.go names it), `is_enabled`; its delete disables the feature",
            Avx + "docs/resources/aviatrix_config_feature.md"),
        new("`aviatrix_dcf_policy_group`: `name`, `attach_to`, `attachment_point { name, priority }` (created if absent; names unique in the policy tree); " +
            "one object attaches to an attachment point, so several modules attach at points a policy group declares",
            Avx + "docs/resources/aviatrix_dcf_policy_group.md, docs/resources/aviatrix_dcf_ruleset.md"),
        new("`aviatrix_dcf_mitm_ca` (9.0+): `name`, `key`, `certificate_chain`, exports `ca_id`; `aviatrix_dcf_mitm_ca_selection`: `ca_id`, one per controller, " +
            "its destroy renews and activates the system default CA; 8.2: `aviatrix_distributed_firewalling_proxy_ca_config` { `ca_cert`, `ca_key` }",
            Avx + "docs/resources/aviatrix_dcf_mitm_ca.md, aviatrix_dcf_mitm_ca_selection.md, aviatrix_distributed_firewalling_proxy_ca_config.md"),
        new("Provider credentials: `AVIATRIX_CONTROLLER_IP`, `AVIATRIX_USERNAME`, `AVIATRIX_PASSWORD`; the provider refuses a controller of another release " +
            "unless `AVIATRIX_SKIP_VERSION_VALIDATION` is set", Avx + "docs/index.md, aviatrix/provider.go"),
        new("`aviatrix_spoke_gateway`: `cloud_type` = 8 (Azure), `account_name`, `gw_name`, `vpc_id`, `vpc_reg` (\"East US\"), `gw_size`, `subnet`, " +
            "`zone` (\"az-n\", Azure only), `ha_subnet`, `ha_zone`, `ha_gw_size`, `single_ip_snat`; exports `private_ip`, `ha_private_ip`; " +
            "no `manage_transit_gateway_attachment` or `transit_gw` (removed in provider 3.0.0)", Avx + "docs/resources/aviatrix_spoke_gateway.md"),
        new("`aviatrix_spoke_transit_attachment`: `spoke_gw_name`, `transit_gw_name`; the HA gateway's attachment is handled by the backend",
            Avx + "docs/resources/aviatrix_spoke_transit_attachment.md"),
        new("`azurerm_subnet`: `name`, `resource_group_name`, `virtual_network_name`, `address_prefixes`, `delegation { name, service_delegation { name, actions } }`; " +
            "`Microsoft.App/environments` is an accepted delegation", Azr + "website/docs/r/subnet.html.markdown"),
        new("`azurerm_route_table`: `name`, `location`, `resource_group_name`, `route { name, address_prefix, next_hop_type (VirtualAppliance), next_hop_in_ip_address }`",
            Azr + "website/docs/r/route_table.html.markdown"),
        new("`azurerm_subnet_route_table_association`: `subnet_id`, `route_table_id`", Azr + "website/docs/r/subnet_route_table_association.html.markdown"),
        new("`azurerm_route`: `name`, `resource_group_name`, `route_table_name`, `address_prefix`, `next_hop_type` (None = drop), `next_hop_in_ip_address`; " +
            "`data \"azurerm_subnet\"` exports `address_prefixes`, `route_table_id`", Azr + "internal/services/network/route_resource.go, subnet_data_source.go"),
        new("`data \"azurerm_virtual_network\"`: `name`, `resource_group_name`; exports `location`, `guid`", Azr + "website/docs/d/virtual_network.html.markdown"),
    ];

    /// <summary>The Aviatrix provider releases whose source schemas Corral's tests check every generated module against.</summary>
    public static readonly IReadOnlyList<string> CheckedAviatrixReleases = ["v8.2.0", "v9.0.10"];

    /// <summary>What the module relies on that the docs above do not settle; a deployment should confirm these first.</summary>
    public static readonly IReadOnlyList<string> Unconfirmed =
    [
        "Built-in smart group UUIDs (Anywhere `def000ad-0000-0000-0000-000000000000`, Public Internet `def000ad-0000-0000-0000-000000000001`): " +
            "from the provider's tests and community blueprints, not from Aviatrix's docs.",
        "Azure `vpc_id` as `vnet_name:resource_group:vnet_guid`: what Aviatrix's community modules pass; the spoke gateway doc's own Azure example shows `vnet_name:resource_group`.",
        "`external = \"threatiq\"` without `ext_args`: the doc's example narrows it (protocol, type, severity); whether the controller takes it bare is not documented.",
        "The delegation action `Microsoft.Network/virtualNetworks/subnets/join/action` is what Azure sets for Microsoft.App/environments (written to avoid a diff); " +
            "the azurerm doc only says Azure may add default actions.",
        "`azureips` with `service_name = \"AzureFrontDoor.FirstParty\"`: Microsoft's Service Tags file spells the tag so; Microsoft's Azure Container Apps " +
            "firewall guidance writes `AzureFrontDoorFirstParty`; Aviatrix's docs show only `AzureCloud` and do not say which spelling the controller resolves.",
        "Whether the controller, with `single_ip_snat`, also programs 0.0.0.0/0 in the agent subnet's route table: the module does not rely on it " +
            "(its own 0.0.0.0/1 and 128.0.0.0/1 routes send egress to the primary gateway); on HA failover those two routes are not reprogrammed by the " +
            "module, so egress falls to the blackhole until they are pointed at the HA gateway (fail closed).",
        "The azurerm provider block's `subscription_id` and `features {}` follow azurerm 4.x's provider documentation, not read here.",
        "A web group with both domains and URL filters (`snifilter` and `urlfilter` in separate blocks of one group): the provider's docs only forbid " +
            "both in one block, but Aviatrix's CoPilot WebGroups page says a group holds domains or URLs, not both; if the controller refuses " +
            "such a group, split it in the policy into a domains group and a URLs group.",
    ];
}

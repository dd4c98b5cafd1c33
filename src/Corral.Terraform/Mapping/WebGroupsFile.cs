using Corral.Terraform.Hcl;

namespace Corral.Terraform.Mapping;

/// <summary>webgroups.tf: one <c>aviatrix_web_group</c> per web group, a <c>snifilter</c> per domain and a <c>urlfilter</c> per URL.</summary>
public static class WebGroupsFile
{
    public const string FileName = "webgroups.tf";

    public static string Write(ModuleContext context)
    {
        var file = new HclBody();
        file.Comment($"Web groups of policy {context.Document.Name} ({context.PolicyFileName}), written by `corral terraform`.");
        file.Comment("A snifilter matches the TLS server name; a urlfilter needs a rule that may decrypt (decrypt_policy = \"DECRYPT_ALLOWED\").");
        if (context.Document.WebGroups.Count == 0) file.Comment("The policy defines no web groups.");
        foreach (var group in context.Document.WebGroups)
        {
            var name = context.Names.For(ModuleContext.WebGroupType, group.Name);
            file.TopBlock("resource", [ModuleContext.WebGroupType, name], b => b
                .Attribute("name", ModuleContext.ObjectName(group.Name))
                .Block("selector", s =>
                {
                    MatchExpressions.Write(s, "snifilter", group.Domains.Select(d => d.Value.ToString()).ToList());
                    MatchExpressions.Write(s, "urlfilter", group.Urls.Select(u => u.Value.ToString()).ToList());
                }), $"{group.Name} ({context.Cite(group.Location)})");
        }
        return HclWriter.Write(file);
    }
}

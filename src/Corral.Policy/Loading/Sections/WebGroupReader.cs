using Corral.Policy.Addressing;
using Corral.Policy.Model;

namespace Corral.Policy.Loading.Sections;

/// <summary>Reads one web group: its domains and its URL filters.</summary>
internal sealed class WebGroupReader(NodeReader nodes)
{
    private static readonly string[] Keys = ["domains", "urls"];

    public WebGroup? Read(string name, YMapping body)
    {
        nodes.CheckKeys(body, Keys, $"web group '{name}'");
        var domains = new List<Located<DomainPattern>>();
        foreach (var item in nodes.List(NodeReader.Get(body, "domains"), "domains"))
        {
            if (nodes.String(item, "a domain") is not { } text) continue;
            if (DomainPattern.TryParse(text, out var pattern, out var error)) domains.Add(new(pattern, item.Location));
            else nodes.Error("bad-domain", item, $"'{text}' is not a valid domain: {error}");
        }
        var urls = new List<Located<UrlPattern>>();
        foreach (var item in nodes.List(NodeReader.Get(body, "urls"), "urls"))
        {
            if (nodes.String(item, "a URL filter") is not { } text) continue;
            if (UrlPatterns.TryParse(text, out var url, out var error)) urls.Add(new(url!, item.Location));
            else nodes.Error("bad-url", item, $"'{text}' is not a URL filter: {error}", "write host/path, e.g. api.github.com/repos/contoso/*");
        }
        if (!NodeReader.Has(body, "domains") && !NodeReader.Has(body, "urls"))
            nodes.Error("empty-group", body, $"web group '{name}' needs 'domains' or 'urls'");
        return new WebGroup(name, body.Location, domains, urls);
    }
}

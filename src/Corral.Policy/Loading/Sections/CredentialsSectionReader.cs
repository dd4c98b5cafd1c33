using System.Text.RegularExpressions;
using Corral.Policy.Model;

namespace Corral.Policy.Loading.Sections;

/// <summary>
/// Reads the <c>credentials</c> section: per credential, where the gateway reads its value, the web groups it may go to,
/// the header or query parameter it goes in, and the placeholder the agent holds instead. The value itself is never
/// read here: checking a policy needs no secret, and nothing derived from the policy can leak one.
/// </summary>
internal sealed partial class CredentialsSectionReader(NodeReader nodes, GroupNames groups, PolicyInputs inputs)
{
    private static readonly string[] Keys = ["source", "destinations", "header", "query", "placeholder"];
    private static readonly string[] SourceKinds = ["file", "env"];
    private const string Example = "credentials: { contoso-mcp: { source: { file: secrets/contoso-mcp.token }, destinations: [contoso-mcp], header: Authorization } }";

    /// <summary>Headers that frame, route or belong to one hop: a credential there would change what the gateway checked, not authenticate.</summary>
    private static readonly string[] ForbiddenHeaders =
        ["host", "content-length", "transfer-encoding", "connection", "upgrade", "te", "trailer", "keep-alive", "expect", "content-encoding", "content-type"];

    public List<Credential> Read(YNode? node)
    {
        var result = new List<Credential>();
        if (node is null || node is YScalar { IsNull: true }) return result;
        if (node is not YMapping map)
        {
            nodes.Error("bad-type", node, "'credentials' is a mapping of credential name to definition", Example);
            return result;
        }
        foreach (var (key, value) in map.Entries)
        {
            if (!PolicyName.IsValid(key.Value))
            {
                nodes.Error("bad-name", key, $"credential name '{key.Value}' must be letters, digits, '.', '_' or '-' (at most 128)");
                continue;
            }
            if (value is not YMapping body)
            {
                nodes.Error("bad-type", value, $"credential '{key.Value}' needs a mapping", Example);
                continue;
            }
            if (ReadOne(key.Value, body) is { } credential) result.Add(credential);
        }
        CheckPlaceholdersApart(result);
        return result;
    }

    private Credential? ReadOne(string name, YMapping body)
    {
        nodes.CheckKeys(body, Keys, $"credential '{name}'");
        var source = ReadSource(name, body);
        var destinations = ReadDestinations(name, body);
        var placement = ReadPlacement(name, body);
        var placeholder = Credential.DefaultPlaceholder(name);
        if (NodeReader.Get(body, "placeholder") is { } p && nodes.String(p, "a placeholder") is { } text)
        {
            if (PlaceholderForm().IsMatch(text)) placeholder = text;
            else nodes.Error("bad-placeholder", p, $"placeholder '{text}' must be 12 to 128 letters, digits, '.', '_' or '-'",
                "a placeholder travels in headers, URLs and host names, where it is looked for; leave it out for 'corral-cred-NAME'");
        }
        if (source is null || placement is null) return null;
        return new Credential(name, body.Location, source, destinations, placement, placeholder);
    }

    private CredentialSource? ReadSource(string name, YMapping body)
    {
        if (NodeReader.Get(body, "source") is not { } node)
        {
            nodes.Error("missing-key", body, $"credential '{name}' needs a 'source'", "source: { file: secrets/NAME.token } or source: { env: NAME_TOKEN }");
            return null;
        }
        if (node is not YMapping map || map.Entries.Count != 1)
        {
            nodes.Error("bad-source", node, $"the source of credential '{name}' is one of {{ file: PATH }} or {{ env: VARIABLE }}");
            return null;
        }
        nodes.CheckKeys(map, SourceKinds, $"the source of credential '{name}'");
        var (kindKey, valueNode) = map.Entries[0];
        if (nodes.String(valueNode, kindKey.Value == "env" ? "an environment variable's name" : "a file path") is not { } reference) return null;
        switch (kindKey.Value)
        {
            case "file" when reference.Length > 0 && !reference.Any(char.IsControl):
                return new CredentialSource(CredentialSourceKind.File, reference, valueNode.Location) { FullPath = inputs.FullPath(reference) };
            case "file":
                nodes.Error("bad-source", valueNode, $"the file of credential '{name}' is a path");
                return null;
            case "env" when EnvironmentName().IsMatch(reference):
                return new CredentialSource(CredentialSourceKind.Environment, reference, valueNode.Location);
            case "env":
                nodes.Error("bad-source", valueNode, $"'{reference}' is not an environment variable's name (letters, digits and '_', not starting with a digit)");
                return null;
            default:
                return null; // reported by CheckKeys
        }
    }

    private List<Located<string>> ReadDestinations(string name, YMapping body)
    {
        var result = new List<Located<string>>();
        var node = NodeReader.Get(body, "destinations");
        foreach (var item in nodes.List(node, "destinations"))
        {
            if (nodes.String(item, "a web group") is not { } group) continue;
            if (groups.IsWebGroup(group)) result.Add(new(group, item.Location));
            else if (groups.TryGetAddressGroup(group, out var other) || PolicyDocument.BuiltInGroups.Contains(group))
                nodes.Error("wrong-group-kind", item, $"'{group}' is {GroupSection.WithArticle(other.Kind ?? "built-in group")}; a credential goes to web groups",
                    "a credential is bound to names the gateway reads in a decrypted request, so list the web groups of the APIs it is for");
            else nodes.Error("unknown-group", item, $"unknown web group '{group}' in the destinations of credential '{name}'", nodes.Hint(group, groups.WebGroupNames));
        }
        if (node is null) nodes.Error("missing-key", body, $"credential '{name}' needs 'destinations': the web groups it may be sent to");
        return result;
    }

    private CredentialPlacement? ReadPlacement(string name, YMapping body)
    {
        var header = NodeReader.Get(body, "header");
        var query = NodeReader.Get(body, "query");
        if ((header is null) == (query is null))
        {
            nodes.Error(header is null ? "missing-key" : "bad-placement", header ?? body,
                $"credential '{name}' goes in one place: 'header: NAME' or 'query: NAME'", "for a bearer token: header: Authorization (the agent sends 'Bearer PLACEHOLDER')");
            return null;
        }
        if (header is not null)
        {
            if (nodes.String(header, "a header name") is not { } text) return null;
            if (!HeaderName().IsMatch(text))
                nodes.Error("bad-placement", header, $"'{text}' is not a header name");
            else if (ForbiddenHeaders.Contains(text.ToLowerInvariant()) || text.StartsWith("proxy-", StringComparison.OrdinalIgnoreCase))
                nodes.Error("bad-placement", header, $"'{text}' frames, routes or belongs to one hop of the request; a credential cannot go there",
                    "Authorization, x-api-key or the header the API documents");
            else return new CredentialPlacement(CredentialPlacementKind.Header, text);
            return null;
        }
        if (nodes.String(query!, "a query parameter's name") is not { } parameter) return null;
        if (QueryName().IsMatch(parameter)) return new CredentialPlacement(CredentialPlacementKind.Query, parameter);
        nodes.Error("bad-placement", query!, $"'{parameter}' is not a query parameter's name (letters, digits, '.', '_', '~', '-')");
        return null;
    }

    // One placeholder inside another would make a request's text mean two credentials at once.
    private void CheckPlaceholdersApart(List<Credential> credentials)
    {
        for (var i = 0; i < credentials.Count; i++)
            for (var j = 0; j < credentials.Count; j++)
            {
                if (i == j) continue;
                var (a, b) = (credentials[i], credentials[j]);
                if (a.Placeholder.Contains(b.Placeholder, StringComparison.OrdinalIgnoreCase) && (i > j || a.Placeholder.Length != b.Placeholder.Length))
                    nodes.Error("placeholder-overlap", a.Location, $"the placeholder of credential '{a.Name}' contains that of credential '{b.Name}'",
                        "give each credential a placeholder that is not part of another's");
            }
    }

    /// <summary>
    /// Checks, once the rules are read, that every destination of a credential can carry it: some permit that decrypts
    /// names it (the value goes only into decrypted requests), and no permit that may not decrypt names it (its flows are
    /// spliced, so the agent's placeholder would reach the API and the call fail, or worse, look like a leak).
    /// </summary>
    public void CheckReachable(List<Credential> credentials, List<Rule> rules)
    {
        foreach (var credential in credentials)
            foreach (var destination in credential.Destinations)
            {
                var permits = rules.Where(r => r.Action == RuleAction.Permit && r.WebGroups.Any(w => w.Value == destination.Value)).ToList();
                foreach (var spliced in permits.Where(r => r.Decrypt != DecryptPolicy.Allowed))
                    nodes.Error("credential-not-decrypted", destination.Location,
                        $"credential '{credential.Name}' goes to web group '{destination.Value}', which rule '{spliced.Name}' permits without decrypting: " +
                        "the gateway cannot put the value into a request it does not read", $"add 'decrypt: allowed' to rule '{spliced.Name}'");
                if (permits.Count == 0)
                    nodes.Error("credential-unreachable", destination.Location,
                        $"credential '{credential.Name}' goes to web group '{destination.Value}', which no permit names",
                        "permit the agents to it in a rule with 'decrypt: allowed'");
            }
    }

    [GeneratedRegex("^[A-Za-z0-9._-]{12,128}$")]
    private static partial Regex PlaceholderForm();

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
    private static partial Regex EnvironmentName();

    [GeneratedRegex("^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")]
    private static partial Regex HeaderName();

    [GeneratedRegex("^[A-Za-z0-9._~-]{1,128}$")]
    private static partial Regex QueryName();
}

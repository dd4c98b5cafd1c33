using Corral.Policy.Model;

namespace Corral.Policy.Loading.Sections;

/// <summary>
/// Reads one rule: each field, then the combinations the gateway and Aviatrix cannot carry out (decrypting a deny,
/// ports on ICMP, web groups or TLS over UDP, …). Names of groups are checked later, against every section, by the
/// <see cref="ReferenceValidator"/>.
/// </summary>
internal sealed class RuleReader(NodeReader nodes)
{
    private static readonly string[] Keys = ["name", "priority", "source", "destination", "webGroups", "action", "protocol", "ports", "decrypt", "mode", "logging", "requireTls", "mcp", "maxBufferedBody", "websocket"];
    private readonly McpSectionReader _mcp = new(nodes);

    public Rule? Read(YMapping body)
    {
        nodes.CheckKeys(body, Keys, "a rule");
        var fields = body.Entries.ToDictionary(e => e.Key.Value, e => e.Value.Location, StringComparer.Ordinal);
        var name = Field(body, "name") is { } n ? nodes.String(n, "name") : null;
        if (name is null)
        {
            nodes.Error("missing-key", body, "rule has no 'name'");
            return null;
        }
        if (!PolicyName.IsValid(name)) nodes.Error("bad-name", Field(body, "name")!, $"rule name '{name}' must be letters, digits, '.', '_' or '-'");
        var priority = 0;
        if (Field(body, "priority") is { } p)
        {
            if (!NodeReader.TryInt(p, out priority) || priority < 0 || priority > 1_000_000)
                nodes.Error("bad-priority", p, $"priority '{NodeReader.ScalarText(p)}' must be a whole number from 0 to 1000000");
        }
        else nodes.Error("missing-key", body, $"rule '{name}' has no 'priority'", "rules are tried by ascending priority");

        var action = RuleAction.Deny;
        if (Field(body, "action") is { } a) action = nodes.Enum(a, "action", Words.Actions) ?? RuleAction.Deny;
        else nodes.Error("missing-key", body, $"rule '{name}' has no 'action'", "action: permit or action: deny");

        var source = GroupNames(Field(body, "source"), "source");
        var destination = GroupNames(Field(body, "destination"), "destination");
        var webGroups = GroupNames(Field(body, "webGroups"), "webGroups");
        var ports = ReadPorts(Field(body, "ports"));
        var protocolDefault = ports.Count > 0 || webGroups.Count > 0 ? RuleProtocol.Tcp : RuleProtocol.Any;
        var protocol = Field(body, "protocol") is { } pr ? nodes.Enum(pr, "protocol", Words.Protocols) ?? protocolDefault : protocolDefault;
        var decrypt = Field(body, "decrypt") is { } d ? nodes.Enum(d, "decrypt", Words.Decrypt) ?? DecryptPolicy.NotAllowed : DecryptPolicy.NotAllowed;
        var mode = Field(body, "mode") is { } m ? nodes.Enum(m, "mode", Words.Modes) ?? RuleMode.Enforce : RuleMode.Enforce;
        var logging = Field(body, "logging") is not { } lg || (nodes.Bool(lg, "logging") ?? true);
        var requireTls = Field(body, "requireTls") is { } rt && (nodes.Bool(rt, "requireTls") ?? false);

        var rule = new Rule(name, body.Location, priority, source, destination, webGroups, action, protocol, ports, decrypt, mode, logging, requireTls, fields);
        CheckCombinations(body, rule);
        var mcp = Field(body, "mcp") is { } mcpNode ? _mcp.Read(mcpNode, name) : null;
        if (mcp is not null && (action != RuleAction.Permit || decrypt != DecryptPolicy.Allowed))
            nodes.Error("mcp-needs-decrypt", Field(body, "mcp")!, $"rule '{name}' has an mcp section, but the gateway sees MCP calls only in flows it may decrypt",
                action == RuleAction.Permit ? "add 'decrypt: allowed' to the rule" : "mcp belongs on a permit with 'decrypt: allowed'");
        var maxBufferedBody = Field(body, "maxBufferedBody") is { } mb ? ReadBodyBound(mb, name) : null;
        if (maxBufferedBody is not null && action != RuleAction.Permit)
            nodes.Error("buffer-on-deny", Field(body, "maxBufferedBody")!, $"rule '{name}' denies, so it reads no body", "maxBufferedBody belongs on a permit");
        var webSocket = Field(body, "websocket") is { } ws && ReadWebSocket(ws, rule);
        return rule with { Mcp = mcp, MaxBufferedBody = maxBufferedBody, WebSocket = webSocket };
    }

    // The gateway carries only what it reads: WebSocket messages are inspected, so only a decrypting permit
    // may let an upgrade through.
    private bool ReadWebSocket(YNode node, Rule rule)
    {
        if (nodes.Enum(node, "websocket", Words.WebSocket) is not true) return false;
        if (rule.Action != RuleAction.Permit || rule.Decrypt != DecryptPolicy.Allowed)
        {
            nodes.Error("websocket-needs-decrypt", node, $"rule '{rule.Name}' allows WebSocket, but the gateway carries only the messages it reads: in flows it may decrypt",
                rule.Action == RuleAction.Permit ? "add 'decrypt: allowed' to the rule" : "websocket belongs on a permit with 'decrypt: allowed'");
            return false;
        }
        return true;
    }

    /// <summary>Smallest and largest per-rule body bounds: below 64 KiB an ordinary MCP call fails; above 256 MiB one request could hold too much memory.</summary>
    public const int MinBufferedBody = 64 << 10, MaxBufferedBody = 256 << 20;

    // A byte count, or a whole number of KiB, MiB or GiB ("8MiB", "512 KiB").
    private int? ReadBodyBound(YNode node, string rule)
    {
        var text = NodeReader.ScalarText(node).Trim();
        var digits = text.TakeWhile(char.IsAsciiDigit).Count();
        var unit = text[digits..].Trim();
        long scale = unit switch { "" or "B" => 1, "KiB" => 1L << 10, "MiB" => 1L << 20, "GiB" => 1L << 30, _ => 0 };
        if (node is YScalar && digits > 0 && digits <= 12 && scale > 0 && long.TryParse(text[..digits], out var count)
            && count * scale is >= MinBufferedBody and <= MaxBufferedBody)
            return (int)(count * scale);
        nodes.Error("bad-body-bound", node, $"rule '{rule}': maxBufferedBody '{text}' must be a size from 64KiB to 256MiB",
            "bytes, or a whole number with KiB, MiB or GiB, such as 16MiB");
        return null;
    }

    /// <summary>Fields each valid alone that no gateway can enforce together.</summary>
    private void CheckCombinations(YMapping body, Rule rule)
    {
        var (name, protocol) = (rule.Name, rule.Protocol);
        var overTcp = protocol is not (RuleProtocol.Udp or RuleProtocol.Icmp);
        if (rule.Decrypt == DecryptPolicy.Allowed && rule.Action == RuleAction.Deny)
            nodes.Error("decrypt-on-deny", Field(body, "decrypt")!, $"rule '{name}' denies, so it cannot decrypt", "remove 'decrypt: allowed' or make the rule a permit");
        if (rule.Decrypt == DecryptPolicy.Allowed && !overTcp)
            nodes.Error("decrypt-needs-tcp", Field(body, "decrypt")!, $"rule '{name}' decrypts, which needs protocol tcp or any");
        if (protocol == RuleProtocol.Icmp && rule.Ports.Count > 0)
            nodes.Error("ports-with-icmp", Field(body, "ports")!, $"rule '{name}' is ICMP, which has no ports", "remove 'ports' or use protocol tcp/udp");
        if (rule.WebGroups.Count > 0 && !overTcp)
            nodes.Error("webgroups-need-tcp", Field(body, "protocol")!, $"rule '{name}' uses web groups, which match TLS SNI or HTTP Host over TCP");
        if (rule.RequireTls && !overTcp)
            nodes.Error("tls-needs-tcp", Field(body, "requireTls")!, $"rule '{name}' requires TLS, which needs protocol tcp or any");
    }

    /// <summary>The group names of a source, destination or webGroups field, with their places.</summary>
    private List<Located<string>> GroupNames(YNode? node, string field) =>
        nodes.List(node, field).Select(n => nodes.String(n, "a group name") is { } s ? new Located<string>(s, n.Location) : null)
            .OfType<Located<string>>().ToList();

    private List<PortRange> ReadPorts(YNode? node)
    {
        var ports = new List<PortRange>();
        foreach (var item in nodes.List(node, "ports"))
        {
            var text = NodeReader.ScalarText(item);
            if (item is YScalar scalar && TryPortRange(scalar.Value, out var range)) ports.Add(range);
            else nodes.Error("bad-port", item, $"'{text}' is not a port", "a number from 1 to 65535, or a range such as 8000-8100");
        }
        if (ports.Count > PolicyLoader.MaxPortRanges)
            nodes.Error("too-many-ports", node!, $"{ports.Count} port ranges; Aviatrix takes at most {PolicyLoader.MaxPortRanges} a rule", "merge adjacent ports into ranges");
        return ports;
    }

    private static bool TryPortRange(string text, out PortRange range)
    {
        range = default;
        var dash = text.IndexOf('-');
        var lowText = dash < 0 ? text : text[..dash];
        var highText = dash < 0 ? text : text[(dash + 1)..];
        if (!int.TryParse(lowText.Trim(), System.Globalization.NumberStyles.None, null, out var low) ||
            !int.TryParse(highText.Trim(), System.Globalization.NumberStyles.None, null, out var high)) return false;
        if (low < 1 || high > 65535 || low > high) return false;
        range = new PortRange(low, high);
        return true;
    }

    private static YNode? Field(YMapping body, string key) => NodeReader.Get(body, key);
}

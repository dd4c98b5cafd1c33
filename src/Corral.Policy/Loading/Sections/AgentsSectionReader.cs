using System.Globalization;
using Corral.Policy.Addressing;
using Corral.Policy.Model;

namespace Corral.Policy.Loading.Sections;

/// <summary>
/// Reads one agent of the <c>agents</c> section (names are checked by <see cref="GroupSectionReader"/>, unique with the
/// groups' since rules name agents as sources): the SHA-256 of each token it may present, the CIDRs it may connect
/// from, and its budget. A token itself never appears in a policy; <c>corral agent token NAME</c> issues one.
/// </summary>
internal sealed class AgentsSectionReader(NodeReader nodes)
{
    private static readonly string[] Keys = ["token-sha256", "cidrs", "budget"];
    private static readonly string[] BudgetKeys = ["requests-per-minute", "upstream-bytes-per-hour"];
    private const string HashHint = "the 64 hex digits 'corral agent token NAME' prints; the policy holds the token's hash, never the token";

    /// <summary>Every token hash read so far, with the agent it belongs to: one token names one agent.</summary>
    private readonly Dictionary<string, (string Agent, Diagnostics.SourceLocation At)> _hashes = new(StringComparer.Ordinal);

    public Agent? Read(string name, YMapping body)
    {
        nodes.CheckKeys(body, Keys, $"agent '{name}'");
        var hashes = ReadHashes(name, body);
        var cidrs = ReadCidrs(name, body);
        var budget = NodeReader.Get(body, "budget") is { } b ? ReadBudget(name, b) : null;
        return new Agent(name, body.Location, hashes, cidrs, budget);
    }

    private List<Located<byte[]>> ReadHashes(string name, YMapping body)
    {
        var result = new List<Located<byte[]>>();
        var node = NodeReader.Get(body, "token-sha256");
        if (node is null)
        {
            nodes.Error("missing-key", body, $"agent '{name}' needs 'token-sha256': the hash of each token it may present", "run 'corral agent token " + name + "' and paste the line it prints");
            return result;
        }
        foreach (var item in nodes.List(node, "token-sha256"))
        {
            if (nodes.String(item, "a token's SHA-256") is not { } text) continue;
            if (text.Length != 64 || !text.All(char.IsAsciiHexDigit))
            {
                nodes.Error("bad-token-hash", item, $"'{Shorten(text)}' is not a SHA-256 in hex", HashHint);
                continue;
            }
            var key = text.ToLowerInvariant();
            if (_hashes.TryGetValue(key, out var earlier))
            {
                nodes.Error("duplicate-token", item, $"this token hash is already agent '{earlier.Agent}''s (at {earlier.At})",
                    "a token names one agent: issue each agent its own with 'corral agent token NAME'");
                continue;
            }
            _hashes[key] = (name, item.Location);
            result.Add(new(Convert.FromHexString(text), item.Location));
        }
        return result;
    }

    // A hash is not secret, but a token pasted by mistake is: quote only its first characters.
    private static string Shorten(string text) => text.Length <= 12 ? text : text[..8] + "…";

    private List<Located<IpPrefix>> ReadCidrs(string name, YMapping body)
    {
        var result = new List<Located<IpPrefix>>();
        var node = NodeReader.Get(body, "cidrs");
        foreach (var item in nodes.List(node, "cidrs"))
        {
            if (nodes.String(item, "a CIDR") is not { } text) continue;
            if (IpPrefix.TryParse(text, out var prefix, out var error)) result.Add(new(prefix, item.Location));
            else nodes.Error("bad-cidr", item, $"'{text}' is not a CIDR: {error}");
        }
        // Required: a stolen token must not work from anywhere the gateway is reachable, so the subnet bounds the agent.
        if (node is null)
            nodes.Error("missing-key", body, $"agent '{name}' needs 'cidrs': the addresses it may connect from",
                "the agent subnet, for example cidrs: [10.20.1.0/24]; a token presented from elsewhere is refused");
        else if (result.Count == 0 && node is not YScalar { IsNull: false })
            nodes.Error("empty-group", node, $"agent '{name}' has no CIDRs, so no address may present its token");
        return result;
    }

    private AgentBudget? ReadBudget(string name, YNode node)
    {
        if (nodes.Section(node, $"the budget of agent '{name}'", BudgetKeys, "budget: { requests-per-minute: 600, upstream-bytes-per-hour: 100MiB }") is not { } map)
            return null;
        int? requests = null;
        long? bytes = null;
        if (NodeReader.Get(map, "requests-per-minute") is { } r)
        {
            if (NodeReader.TryInt(r, out var n) && n is >= 1 and <= 1_000_000) requests = n;
            else nodes.Error("bad-budget", r, $"requests-per-minute '{NodeReader.ScalarText(r)}' must be a whole number from 1 to 1000000");
        }
        if (NodeReader.Get(map, "upstream-bytes-per-hour") is { } u)
        {
            if (TrySize(u, out var size)) bytes = size;
            else nodes.Error("bad-budget", u, $"upstream-bytes-per-hour '{NodeReader.ScalarText(u)}' must be a size from 1KiB to 1024GiB",
                "bytes, or a whole number with KiB, MiB or GiB, such as 100MiB");
        }
        if (map.Entries.Count == 0) nodes.Error("bad-budget", node, $"the budget of agent '{name}' sets no limit", "requests-per-minute and/or upstream-bytes-per-hour");
        return requests is null && bytes is null ? null : new AgentBudget(requests, bytes);
    }

    // A byte count, or a whole number of KiB, MiB or GiB ("100MiB", "512 KiB").
    private static bool TrySize(YNode node, out long size)
    {
        size = 0;
        if (node is not YScalar) return false;
        var text = NodeReader.ScalarText(node).Trim();
        var digits = text.TakeWhile(char.IsAsciiDigit).Count();
        long scale = text[digits..].Trim() switch { "" or "B" => 1, "KiB" => 1L << 10, "MiB" => 1L << 20, "GiB" => 1L << 30, _ => 0 };
        if (digits is 0 or > 12 || scale == 0 || !long.TryParse(text[..digits], NumberStyles.None, CultureInfo.InvariantCulture, out var count)) return false;
        size = count * scale;
        return size is >= 1L << 10 and <= 1L << 40;
    }
}

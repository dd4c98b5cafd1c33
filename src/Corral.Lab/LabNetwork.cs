using System.Net;

namespace Corral.Lab;

/// <summary>One stand-in host: its public name and the role it plays. Its address depends on the pass's network.</summary>
public sealed record StandIn(string Name, string Role);

/// <summary>The hosts the lab plays, by name: the same in every mode.</summary>
public static class LabHosts
{
    public static readonly StandIn Mcp = new("mcp.contoso.com", "approved MCP server");
    public static readonly StandIn Collector = new("collector.attacker.example", "attacker's collector");
    public static readonly StandIn Login = new("login.microsoftonline.com", "Microsoft identity (pinned)");
    public static readonly StandIn Registry = new("mcr.microsoft.com", "Microsoft container registry (pinned)");
    public static readonly StandIn CommandAndControl = new("c2.evil.example", "threat-listed C2 host");
    public static readonly StandIn RogueRegistry = new("registry.evil.example", "unapproved package registry");

    /// <summary>An approved name that the lab's DNS points at the spoke (DNS rebinding).</summary>
    public const string RebindingName = "api.github.com";

    public const int HttpsPort = 443, DatabasePort = 5432;

    public static IReadOnlyList<StandIn> HttpsStandIns { get; } = [Mcp, Collector, Login, Registry, CommandAndControl, RogueRegistry];
}

/// <summary>
/// Where one pass's hosts live: the agent's subnet, the adjacent spoke, and the address of each stand-in. The lab's
/// "DNS" is this map: the gateway reads it as its --hosts file and, in transparent mode, the agent resolves with it too.
/// </summary>
public sealed record LabNetwork(string AgentSubnet, string SpokeCidr, IReadOnlyList<string> PublicStandIns, IReadOnlyDictionary<string, IPAddress> Addresses, IPAddress SpokeHost)
{
    /// <summary>
    /// The explicit pass: every "internet" host is a loopback address (127.0.0.2–7) that the lab's gateway is told to
    /// treat as public, and only inside the lab; the spoke is 127.0.1.0/24, which stays internal.
    /// </summary>
    public static LabNetwork Loopback { get; } = new("127.0.0.1/32", "127.0.1.0/24", ["127.0.0.2/31", "127.0.0.4/30"],
        LabHosts.HttpsStandIns.Select((s, i) => (s.Name, Address: IPAddress.Parse($"127.0.0.{i + 2}"))).ToDictionary(p => p.Name, p => p.Address),
        IPAddress.Parse("127.0.1.5"));

    /// <summary>
    /// The transparent pass (see <see cref="Namespaces.LabTopology"/>): the agent at 10.20.k.2 in its own namespace, the
    /// internet stand-ins on 198.19.k.2–7 (the benchmarking range, 198.18.0.0/15, which is public to the policy: no
    /// stand-in setting needed) and the spoke host at 10.30.k.5, each in namespaces the lab creates.
    /// </summary>
    public static LabNetwork Namespaces(int k) => new($"10.20.{k}.0/30", $"10.30.{k}.0/24", [],
        LabHosts.HttpsStandIns.Select((s, i) => (s.Name, Address: IPAddress.Parse($"198.19.{k}.{i + 2}"))).ToDictionary(p => p.Name, p => p.Address),
        IPAddress.Parse($"10.30.{k}.5"));

    public IPAddress AddressOf(StandIn standIn) => Addresses[standIn.Name];

    /// <summary>The adjacent spoke's database: a private address on the spoke range.</summary>
    public IPEndPoint SpokeDatabase => new(SpokeHost, LabHosts.DatabasePort);

    /// <summary>The same spoke host's HTTPS port: where a rebound name would lead.</summary>
    public IPEndPoint SpokeHttps => new(SpokeHost, LabHosts.HttpsPort);

    /// <summary>The lab's DNS answer for a name, or null for a name it does not know.</summary>
    public IPAddress? Resolve(string name) =>
        name == LabHosts.RebindingName ? SpokeHost : Addresses.GetValueOrDefault(name);

    /// <summary>The /etc/hosts-format map the gateway resolves with.</summary>
    public string HostsFile() =>
        string.Join("\n", LabHosts.HttpsStandIns.Select(s => $"{AddressOf(s)} {s.Name}").Append($"{SpokeHost} {LabHosts.RebindingName}")) + "\n";
}

using System.Net;

namespace Corral.Lab;

/// <summary>
/// The lab's one-machine network: every "internet" host is a loopback address the lab's gateway is told to treat
/// as public (and only inside the lab); the adjacent spoke is a loopback range that stays internal.
/// </summary>
public static class LabNetwork
{
    public static readonly IPAddress Agent = IPAddress.Parse("127.0.0.1");
    public const string AgentSubnet = "127.0.0.1/32";
    public const string SpokeCidr = "127.0.1.0/24";
    public const string PublicStandIns = "127.0.0.2/31,127.0.0.4/30";     // .2 – .7
    public const int HttpsPort = 443;

    public static readonly StandIn Mcp = new("mcp.contoso.com", "127.0.0.2", "approved MCP server");
    public static readonly StandIn Collector = new("collector.attacker.example", "127.0.0.3", "attacker's collector");
    public static readonly StandIn Login = new("login.microsoftonline.com", "127.0.0.4", "Microsoft identity (pinned)");
    public static readonly StandIn Registry = new("mcr.microsoft.com", "127.0.0.5", "Microsoft container registry (pinned)");
    public static readonly StandIn CommandAndControl = new("c2.evil.example", "127.0.0.6", "threat-listed C2 host");
    public static readonly StandIn RogueRegistry = new("registry.evil.example", "127.0.0.7", "unapproved package registry");

    /// <summary>The adjacent spoke's database: a private address on the spoke range.</summary>
    public static readonly IPEndPoint SpokeDatabase = new(IPAddress.Parse("127.0.1.5"), 5432);

    /// <summary>An approved name that the lab's resolver points at the spoke (DNS rebinding).</summary>
    public const string RebindingName = "api.github.com";

    public static IReadOnlyList<StandIn> HttpsStandIns => [Mcp, Collector, Login, Registry, CommandAndControl, RogueRegistry];

    /// <summary>The /etc/hosts-format map the gateway resolves with.</summary>
    public static string HostsFile() =>
        string.Join("\n", HttpsStandIns.Select(s => $"{s.Address} {s.Name}").Append($"{SpokeDatabase.Address} {RebindingName}")) + "\n";
}

/// <summary>One stand-in host: its public name and the loopback address it listens on.</summary>
public sealed record StandIn(string Name, string AddressText, string Role)
{
    public IPAddress Address { get; } = IPAddress.Parse(AddressText);
}

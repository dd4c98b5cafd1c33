using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Corral.Gateway.FlowLog;
using Corral.Lab.Agents;

namespace Corral.Lab;

/// <summary>What one pass's scenarios share: the mode, the agent, where the hosts are, the stand-ins, the flow records and the promoter.</summary>
internal sealed class ScenarioContext(LabMode mode, LabAgent agent, LabNetwork network, IReadOnlyDictionary<string, StandInServer> servers,
    StandInServer database, StandInServer spokeHttps, ConcurrentQueue<FlowRecord> records, AdminApiPromoter promoter, X509Certificate2 interceptionCa,
    AgentResolver resolver, LabNameServer nameServer)
{
    /// <summary>The agent's resolver: the gateway's DNS listener, asked from the agent's network.</summary>
    public AgentResolver Resolver => resolver;

    /// <summary>The DNS behind the gateway, up to the attacker's name server: every name it receives has left.</summary>
    public LabNameServer NameServer => nameServer;

    public LabMode Mode => mode;
    public LabAgent Agent => agent;
    public LabNetwork Network => network;
    public ConcurrentQueue<FlowRecord> Records => records;
    public AdminApiPromoter Promoter => promoter;
    public X509Certificate2 InterceptionCa => interceptionCa;

    public StandInServer Server(StandIn s) => servers[s.Name];

    /// <summary>The spoke's database port.</summary>
    public StandInServer Database => database;

    /// <summary>Every byte the spoke host received, on its database port and its HTTPS port.</summary>
    public long SpokeBytes => database.BytesReceived + spokeHttps.BytesReceived;

    /// <summary>The approved MCP server's tools, as this pass's stand-in lists them.</summary>
    public McpToolCatalog McpTools { get; init; } = new();

    /// <summary>The MCP server's real token: in the gateway's credential file, never given to the agent.</summary>
    public string McpToken { get; init; } = "";

    /// <summary>Where the MCP tool response told the agent to send its data (set by the tool-call scenario).</summary>
    public string? InjectedUrl { get; set; }

    public FlowRecord? LastDecisionTo(IPEndPoint destination) =>
        Records.Where(r => r.Event == FlowEvent.Decision && Equals(r.Destination, destination)).LastOrDefault();
}

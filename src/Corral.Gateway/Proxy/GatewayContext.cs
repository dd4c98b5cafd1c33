using System.Diagnostics.Metrics;
using Corral.Gateway.Decision;
using Corral.Gateway.FlowLog;
using Microsoft.Extensions.Logging;

namespace Corral.Gateway.Proxy;

/// <summary>What every connection handler shares: limits, the decider, the flow log, logging, flow ids, metrics and the shutdown signal.</summary>
internal sealed class GatewayContext(GatewayLimits limits, FlowDecider decider, IFlowLog flowLog, ILogger logger, Meter meter, Func<System.Net.IPEndPoint, bool>? dialGuard, CancellationToken stoppingToken,
    Interception.TlsInterceptor? interceptor = null, NameService.ResolvedNames? resolvedNames = null)
{
    /// <summary>Names agents resolved through the gateway's resolver, by address; null when it does not run.</summary>
    public NameService.ResolvedNames? ResolvedNames { get; } = resolvedNames;

    /// <summary>Decrypts decrypt-allowed permits; null when no CA is configured (every flow is spliced).</summary>
    public Interception.TlsInterceptor? Interceptor { get; } = interceptor;

    private readonly string _idPrefix = Convert.ToHexStringLower(BitConverter.GetBytes(Environment.TickCount64 ^ Environment.ProcessId))[..8];
    private long _nextId;

    public GatewayLimits Limits { get; } = limits;

    /// <summary>The one HTTP/1.1 parser's limits, from the gateway's.</summary>
    public Interception.Http.HttpLimits HttpLimits { get; } = new() { MaxHeadBytes = limits.MaxHeadBytes };

    /// <summary>Cleartext HTTP through the one request pipeline, with its pool of idle upstream connections; disposed with the server.</summary>
    public Interception.PlainHttpRelay PlainRelay { get; } = new(new Interception.InterceptionOptions { Limits = new() { MaxHeadBytes = limits.MaxHeadBytes }, IdleTimeout = limits.IdleTimeout });

    /// <summary>How tunnels move bytes: kernel pipes, the idle sweeper; disposed with the server.</summary>
    public Splicing.SpliceEngine Splice { get; } = new(limits.IdleTimeout, limits.CopyMode);
    public Func<System.Net.IPEndPoint, bool>? DialGuard { get; } = dialGuard;
    public FlowDecider Decider { get; } = decider;
    public IFlowLog FlowLog { get; } = flowLog;
    public ILogger Logger { get; } = logger;
    /// <summary>The flow counters (decided, denied, bytes, MCP calls and tool changes).</summary>
    public GatewayMetrics Metrics { get; } = new(meter);

    /// <summary>The MCP tool pins (rules with pinTools).</summary>
    public required Mcp.ToolPins ToolPins { get; init; }

    /// <summary>What each agent has used of its budget in this process.</summary>
    public AgentBudgets AgentBudgets { get; } = new();

    /// <summary>Credential values, read from their sources when a request needs one.</summary>
    public Credentials.CredentialValues Credentials { get; } = new();

    /// <summary>Cancelled when a graceful shutdown starts; cuts only waits for a next request, never a transfer.</summary>
    public CancellationToken StoppingToken { get; } = stoppingToken;

    /// <summary>A graceful shutdown has started: kept-alive connections finish their current request and close.</summary>
    public bool Stopping => StoppingToken.IsCancellationRequested;

    /// <summary>The gateway's own endpoints, never dialled.</summary>
    public SelfGuard Self { get; } = new();

    public string NewFlowId() => $"{_idPrefix}-{Interlocked.Increment(ref _nextId):x}";
}

/// <summary>The gateway's flow counters, created once on its meter.</summary>
internal sealed class GatewayMetrics(Meter meter)
{
    /// <summary>Flows decided, tagged with rule, action and enforced.</summary>
    public Counter<long> Flows { get; } = meter.CreateCounter<long>("corral.gateway.flows", description: "Flows decided, by rule, action and enforced");
    public Counter<long> BytesUp { get; } = meter.CreateCounter<long>("corral.gateway.traffic.up", unit: "By", description: "Bytes sent upstream by clients");
    public Counter<long> BytesDown { get; } = meter.CreateCounter<long>("corral.gateway.traffic.down", unit: "By", description: "Bytes sent to clients from upstream");
    public Counter<long> Denied { get; } = meter.CreateCounter<long>("corral.gateway.flows.denied", description: "Flows denied (by policy or refused as bad input)");

    /// <summary>MCP calls decided on rules with an mcp section, tagged with server, tool (or method) and outcome.</summary>
    public Counter<long> McpCalls { get; } = meter.CreateCounter<long>("corral.gateway.mcp.calls", description: "MCP calls on rules with an mcp section, by server, tool and outcome");
    /// <summary>MCP tools a server added, removed or changed since they were pinned, tagged with server and tool.</summary>
    public Counter<long> McpToolChanges { get; } = meter.CreateCounter<long>("corral.gateway.mcp.tool_changes", description: "MCP tool definitions changed since pinned, by server and tool");

    /// <summary>Credential values put into requests, tagged with the credential.</summary>
    public Counter<long> CredentialsPlaced { get; } = meter.CreateCounter<long>("corral.gateway.credentials.placed", description: "Requests a credential value was put into, by credential");
    /// <summary>Placeholders headed where their credential may not go, tagged with credential and rule: the canary.</summary>
    public Counter<long> CredentialExfiltrations { get; } = meter.CreateCounter<long>("corral.gateway.credentials.exfiltration_attempts",
        description: "Requests refused for carrying a credential's placeholder where it may not go, by credential and rule");

    /// <summary>Flows, requests and tunnels refused or closed for an agent over its budget, tagged with the agent.</summary>
    public Counter<long> AgentBudgetRefusals { get; } = meter.CreateCounter<long>("corral.gateway.agents.over_budget",
        description: "Flows and requests refused, and tunnels closed, for an agent over its budget, by agent");
}

using System.Net;
using System.Security.Cryptography.X509Certificates;
using Corral.Certificates;

namespace Corral.Gateway;

/// <summary>Where the gateway listens, where it logs, and the limits that bound each connection. Defaults are safe.</summary>
public sealed record GatewayOptions
{
    /// <summary>The explicit proxy listener (HTTP_PROXY/HTTPS_PROXY); null for none.</summary>
    public IPEndPoint? Listen { get; init; }

    /// <summary>The transparent listener that iptables/nftables REDIRECT sends connections to; null for none.</summary>
    public IPEndPoint? Transparent { get; init; }

    /// <summary>The flow-log file (JSON lines); null to keep no flow log.</summary>
    public string? FlowLogPath { get; init; }

    /// <summary>The flow log is rotated to FILE.1 … FILE.N when it grows past this many bytes.</summary>
    public long FlowLogMaxBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>
    /// Refuse new connections (503 with the refusal body on the explicit listener, a close on the transparent one)
    /// while the flow log cannot record, instead of serving flows whose records may be lost.
    /// </summary>
    public bool FlowLogFailClosed { get; init; }

    /// <summary>Set SO_REUSEPORT on the listeners, so that several processes share a port; off unless asked for.</summary>
    public bool ReusePort { get; init; }

    /// <summary>How many rotated flow-log files are kept.</summary>
    public int FlowLogMaxFiles { get; init; } = 5;

    /// <summary>Signs the flow log's checkpoints (docs/flow-log.md, "Tamper evidence"); null writes the hash chain without checkpoints.</summary>
    public Audit.CheckpointSigner? FlowLogSigner { get; init; }

    /// <summary>With <see cref="FlowLogSigner"/>: a signed checkpoint after this many records (and at start, rotation and shutdown).</summary>
    public int FlowLogCheckpointEvery { get; init; } = FlowLog.FlowLogWriter.DefaultCheckpointEvery;

    /// <summary>Corral's own flow-log lines (the default), or OCSF events (docs/flow-log.md, "OCSF").</summary>
    public FlowLog.FlowLogFormat FlowLogFormat { get; init; }

    /// <summary>Records queued for the flow-log writer before new ones are dropped (and counted).</summary>
    public int FlowLogQueueCapacity { get; init; } = 16_384;

    /// <summary>Decision records kept in memory for the admin API's recent flows.</summary>
    public int RecentFlowsCapacity { get; init; } = 2048;

    /// <summary>A static name → address map in /etc/hosts format, consulted before DNS.</summary>
    public string? HostsFile { get; init; }

    /// <summary>The MCP tool pin file; null: <c>NAME.mcp-pins.json</c> next to the policy.</summary>
    public string? McpPinsPath { get; init; }

    public GatewayLimits Limits { get; init; } = new();

    /// <summary>The resolver for the agent subnet (<c>--dns</c>); null for none.</summary>
    public NameService.DnsOptions? Dns { get; init; }

    /// <summary>TLS interception for decrypt-allowed permits; null means every permitted flow is spliced.</summary>
    public GatewayInterception? Interception { get; init; }

    /// <summary>
    /// Tests only: a last check before any dial, so that a gateway bug in a test can never send a packet to an address
    /// outside the test's own (loopback) world. A refused dial fails like an unreachable upstream.
    /// </summary>
    internal Func<IPEndPoint, bool>? DialGuard { get; init; }
}

/// <summary>Bounds on what one client may make the gateway hold or wait for.</summary>
public sealed record GatewayLimits
{
    /// <summary>
    /// Connections served at once; further clients are refused: 503 with the refusal body on the explicit listener, a
    /// flow record and a metric each. Null: as many as the open-file limit carries (<see cref="DefaultMaxConnections"/>
    /// where the limit cannot be read). A value the open-file limit cannot carry is lowered at start, with a warning.
    /// </summary>
    public int? MaxConnections { get; init; }

    /// <summary>The connection limit where the open-file limit cannot be read (not Linux) and none was chosen.</summary>
    public const int DefaultMaxConnections = 4096;

    /// <summary>The largest HTTP request (or response) head, in bytes.</summary>
    public int MaxHeadBytes { get; init; } = 32 * 1024;

    /// <summary>How long a client may take to send a complete request head.</summary>
    public TimeSpan HeadTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The largest TLS ClientHello the gateway will buffer to find the SNI.</summary>
    public int MaxClientHelloBytes { get; init; } = 64 * 1024;

    /// <summary>How long the gateway waits for a complete ClientHello (or a first byte) before giving up.</summary>
    public TimeSpan ClientHelloTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long dialling the upstream may take.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>A connection with no bytes either way for this long is closed.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>How long a graceful shutdown waits for open connections before cutting them.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Tests force the managed copy with this; splice(2) is used where it works.</summary>
    internal Splicing.CopyMode CopyMode { get; init; }
}

/// <summary>The interception CA, and the roots upstream certificates must chain to (null: the system's trust store).</summary>
public sealed record GatewayInterception(CertificateAuthority Authority, X509Certificate2Collection? UpstreamTrust);

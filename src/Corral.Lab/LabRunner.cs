using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Corral.Gateway;
using Corral.Gateway.FlowLog;
using Corral.Gateway.Hosting;
using Corral.Lab.Agents;
using Corral.Lab.Namespaces;
using Corral.Policy;
using Corral.Policy.Addressing;
using Corral.Policy.Compilation;
using Corral.Policy.Model;
using Corral.Policy.Templates;
using Microsoft.Extensions.Logging.Abstractions;

namespace Corral.Lab;

/// <summary>
/// Runs the lab: the Foundry pack in Corral's gateway (with an interception CA), real HTTPS stand-ins, and an agent
/// that plays each attack scenario and checks what reached the far end — once through the explicit proxy with
/// loopback stand-ins, and once in transparent mode, where the agent lives in a network namespace whose route leads
/// through the gateway and the stand-ins live in namespaces of their own.
/// </summary>
public sealed class LabRunner(TextWriter progress)
{
    public async Task<LabReport> RunAsync(LabModes modes = LabModes.Both, CancellationToken ct = default)
    {
        var started = DateTimeOffset.UtcNow;
        var clock = Stopwatch.StartNew();
        using var pki = new LabPki();
        var passes = new List<LabPass>();
        foreach (var mode in modes.Passes())
        {
            ct.ThrowIfCancellationRequested();
            passes.Add(mode == LabMode.Explicit
                ? await RunExplicitAsync(pki, ct)
                : await RunTransparentAsync(pki, required: modes == LabModes.Transparent, ct));
        }
        return new LabReport(started, clock.Elapsed, passes);
    }

    private async Task<LabPass> RunExplicitAsync(LabPki pki, CancellationToken ct)
    {
        const string description = "explicit proxy, HTTPS_PROXY, loopback stand-ins";
        var clock = Stopwatch.StartNew();
        progress.WriteLine($"lab: explicit pass ({description})");
        using var folder = new LabFolder();
        var network = LabNetwork.Loopback;
        var policy = WritePolicy(folder.Path, network);
        var mcpTools = new McpToolCatalog();
        await using var servers = new StandIns();
        try
        {
            foreach (var s in LabHosts.HttpsStandIns)
                servers.Add(s.Name, new StandInServer(new IPEndPoint(network.AddressOf(s), LabHosts.HttpsPort), pki.Leaves[s.Name], Handler(s, mcpTools)));
            servers.Add("database", new StandInServer(network.SpokeDatabase, null, null));
            servers.Add("spoke-https", new StandInServer(network.SpokeHttps, null, null));
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AccessDenied)
        {
            throw new InvalidOperationException($"the lab binds port {LabHosts.HttpsPort} on loopback stand-in addresses: run it as root, " +
                                                "or allow it with: sudo sysctl net.ipv4.ip_unprivileged_port_start=443");
        }
        progress.WriteLine($"lab: {LabHosts.HttpsStandIns.Count} HTTPS stand-ins on 127.0.0.2-7:443, spoke host {network.SpokeHost} (:5432, :443)");

        var records = new ConcurrentQueue<FlowRecord>();
        await using var nameServer = new LabNameServer(new IPEndPoint(IPAddress.Loopback, 0), network);
        await using var gateway = StartGateway(policy, pki, records, new GatewayOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            Dns = new Gateway.NameService.DnsOptions { Listen = new IPEndPoint(IPAddress.Loopback, 0), Upstream = nameServer.EndPoint },
        });
        progress.WriteLine($"lab: gateway on {gateway.ListenEndPoint}, its resolver on {gateway.DnsEndPoint} asking {nameServer.EndPoint} (loopback stand-ins treated as public inside the lab only)");
        var resolver = new AgentResolver(gateway.DnsEndPoint!, () => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp), IPAddress.Loopback);

        await using var promoter = await AdminApiPromoter.StartAsync(gateway, policy.Path, policy.Options, ct);
        var context = new ScenarioContext(LabMode.Explicit, new ExplicitAgent(gateway.ListenEndPoint!, pki), network, servers.Https,
            servers["database"], servers["spoke-https"], records, promoter, pki.InterceptionCa.Certificate, resolver, nameServer) { McpTools = mcpTools, McpToken = policy.McpToken };
        var results = await PlayAllAsync(context, ct);
        return new LabPass(LabMode.Explicit, description, clock.Elapsed, results, [promoter.Description]);
    }

    private async Task<LabPass> RunTransparentAsync(LabPki pki, bool required, CancellationToken ct)
    {
        const string description = "transparent, agent namespace routed through the gateway, iptables REDIRECT";
        var clock = Stopwatch.StartNew();
        progress.WriteLine($"lab: transparent pass ({description})");
        if (await TransparentCapability.MissingAsync() is { } missing)
        {
            progress.WriteLine($"lab: transparent pass skipped: {missing}");
            return new LabPass(LabMode.Transparent, description, clock.Elapsed, [], [], missing, required);
        }
        var notes = new List<string>();
        var swept = await LabTopology.SweepAsync();
        if (swept.Count > 0)
        {
            progress.WriteLine($"lab: removed {swept.Count} leftover(s) of an earlier run that ended without cleaning up: {string.Join("; ", swept)}");
            notes.Add($"removed leftovers of an earlier run: {string.Join("; ", swept)}");
        }

        LabTopology topology;
        try
        {
            topology = await LabTopology.CreateAsync(ct);
        }
        catch (LabSetupException e) when (e.MachineCannot)
        {
            progress.WriteLine($"lab: transparent pass skipped: {e.Message}");
            return new LabPass(LabMode.Transparent, description, clock.Elapsed, [], notes, e.Message, required);
        }
        catch (LabSetupException e)
        {
            // The probe said the machine can do this, so a failure here is an error, not a skip.
            progress.WriteLine($"lab: transparent pass FAILED: the namespace network could not be built: {e.Message}");
            return new LabPass(LabMode.Transparent, description, clock.Elapsed, [], notes, Error: $"the namespace network could not be built: {e.Message}");
        }
        LabPass pass;
        try
        {
            progress.WriteLine($"lab: {topology}");
            pass = await RunInTopologyAsync(topology, pki, description, ct);
        }
        catch (Exception e) when (e is LabSetupException or SocketException or IOException)
        {
            progress.WriteLine($"lab: transparent pass FAILED: {e.Message}");
            pass = new LabPass(LabMode.Transparent, description, TimeSpan.Zero, [], [], Error: e.Message);
        }
        finally
        {
            await topology.DisposeAsync();
            foreach (var e in topology.CleanupErrors) progress.WriteLine($"lab: warning: clean-up: {e}");
        }
        notes.AddRange(pass.Notes);
        notes.AddRange(topology.CleanupErrors.Select(e => $"clean-up could not remove: {e}"));
        return pass with { Duration = clock.Elapsed, Notes = notes };
    }

    private async Task<LabPass> RunInTopologyAsync(LabTopology topology, LabPki pki, string description, CancellationToken ct)
    {
        using var folder = new LabFolder();
        var network = topology.Network;
        var policy = WritePolicy(folder.Path, network);
        var mcpTools = new McpToolCatalog();
        await using var servers = new StandIns();
        foreach (var s in LabHosts.HttpsStandIns)
            servers.Add(s.Name, new StandInServer(new IPEndPoint(network.AddressOf(s), LabHosts.HttpsPort), pki.Leaves[s.Name], Handler(s, mcpTools), () => topology.Internet.CreateTcpSocket()));
        servers.Add("database", new StandInServer(network.SpokeDatabase, null, null, () => topology.Spoke.CreateTcpSocket()));
        servers.Add("spoke-https", new StandInServer(network.SpokeHttps, null, null, () => topology.Spoke.CreateTcpSocket()));

        var records = new ConcurrentQueue<FlowRecord>();
        // The attacker's name server sits at the collector's address in the internet namespace; the gateway's resolver asks it.
        await using var nameServer = new LabNameServer(new IPEndPoint(network.AddressOf(LabHosts.Collector), 53), network, () => topology.Internet.CreateUdpSocket());
        var resolverAt = new IPEndPoint(topology.GatewayAddress, 53);
        await using var gateway = StartGateway(policy, pki, records, new GatewayOptions
        {
            Transparent = new IPEndPoint(topology.GatewayAddress, 0),
            Dns = new Gateway.NameService.DnsOptions { Listen = resolverAt, Upstream = nameServer.EndPoint },
        });
        var resolver = new AgentResolver(resolverAt, () => topology.Agent.CreateUdpSocket(), topology.AgentAddress);
        await topology.RedirectAgentTcpAsync(gateway.TransparentEndPoint!.Port);
        progress.WriteLine($"lab: gateway's transparent listener on {gateway.TransparentEndPoint}; the agent's TCP is REDIRECTed to it, nothing else is forwarded");

        await using var promoter = await AdminApiPromoter.StartAsync(gateway, policy.Path, policy.Options, ct);
        var context = new ScenarioContext(LabMode.Transparent, new TransparentAgent(topology.Agent, network, pki), network, servers.Https,
            servers["database"], servers["spoke-https"], records, promoter, pki.InterceptionCa.Certificate, resolver, nameServer) { McpTools = mcpTools, McpToken = policy.McpToken };
        var results = await PlayAllAsync(context, ct);
        return new LabPass(LabMode.Transparent, description, TimeSpan.Zero, results,
        [
            $"agent {topology.AgentAddress} connects straight to the stand-ins' addresses (names from the lab's DNS, no proxy settings); its only route leads through the gateway",
            $"agent's resolver: the gateway at {resolverAt}; behind it the attacker's stand-in name server at {nameServer.EndPoint}",
            promoter.Description,
        ]);
    }

    private async Task<IReadOnlyList<ScenarioResult>> PlayAllAsync(ScenarioContext context, CancellationToken ct)
    {
        var results = new List<ScenarioResult>();
        foreach (var scenario in Scenarios.All)
        {
            ct.ThrowIfCancellationRequested();
            progress.Write($"lab: {context.Mode.Name()} [{scenario.Number,2}/{Scenarios.All.Count}] {scenario.Title} ... ");
            ScenarioResult result;
            try
            {
                result = await ScenarioPlays.PlayAsync(scenario, context, ct);
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                result = new ScenarioResult(scenario.Number, scenario.Id, scenario.Title, context.Mode.Name(), scenario.Expected, $"error: {e.Message}", null, false,
                    scenario.Owasp, 0, ScenarioOutcome.Fail);
            }
            progress.WriteLine(result.Outcome switch { ScenarioOutcome.Pass => "pass", ScenarioOutcome.NotApplicable => $"n/a ({result.Observed})", _ => $"FAIL ({result.Observed})" });
            results.Add(result);
        }
        return results;
    }

    /// <summary>The Foundry pack with the pass's agent subnet and spoke, its threat feeds, and the hosts map.</summary>
    private LabPolicy WritePolicy(string folder, LabNetwork network)
    {
        var path = Path.Combine(folder, "corral.yaml");
        // The gateway's resolver refuses names that only the pack's address-only permit (allow-aca-svctag) could reach.
        // The pack as it is once promoted (Watch = false): the attacks must meet enforcement. `corral init` writes it in
        // watch mode; scenario 10 plays that step, a rule in watch mode promoted to enforce. The tool rule carries WebSocket
        // (scenario 14: a secret in a message).
        File.WriteAllText(path, AzureFoundryTemplate.Render(new AzureFoundryOptions
        {
            Watch = false,
            AgentSubnet = network.AgentSubnet, SpokeCidrs = [network.SpokeCidr], McpTools = ["search_docs", "get_issue"], PinTools = ToolPinning.Enforce,
        }).Replace("name: allow-tool-calls,", "name: allow-tool-calls, websocket: allow,") + "\ndns:\n  mode: enforce\n" +
            // The MCP server's token: the agent holds only the placeholder, the gateway places the value (scenario 13).
            $"\ncredentials:\n  {McpCredential}: {{ source: {{ file: secrets/mcp.token }}, destinations: [foundry-tool-calls], header: Authorization }}\n");
        var token = "lab-mcp-" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(12));
        Directory.CreateDirectory(Path.Combine(folder, "secrets"));
        File.WriteAllText(Path.Combine(folder, "secrets", "mcp.token"), token + "\n");
        Directory.CreateDirectory(Path.Combine(folder, "feeds"));
        File.WriteAllText(Path.Combine(folder, "feeds", "threat-ips.txt"), $"# lab threat feed\n{network.AddressOf(LabHosts.CommandAndControl)}\n");
        File.WriteAllText(Path.Combine(folder, "feeds", "threat-domains.txt"), $"# lab threat feed\n{LabHosts.CommandAndControl.Name}\n");
        var hostsPath = Path.Combine(folder, "hosts");
        File.WriteAllText(hostsPath, network.HostsFile());
        // The public-standin setting exists only here, for the loopback pass; the transparent pass's 198.18.0.0/15 is public already.
        var options = new CompileOptions { PublicStandIns = network.PublicStandIns.Select(Prefix).ToArray() };
        var check = PolicyChecker.CheckFile(path, options: options);
        if (!check.Succeeded) throw new InvalidOperationException("the lab's policy does not check: " + string.Join("; ", check.Diagnostics.Where(d => d.IsError)));
        progress.WriteLine($"lab: Foundry pack loaded ({check.Compiled!.Rules.Count} rules, policy {check.Compiled.Hash[..12]}; agent {network.AgentSubnet}, spoke {network.SpokeCidr})");
        return new LabPolicy(path, hostsPath, check.Compiled, options, token);
    }

    /// <summary>The name of the lab policy's one credential; the agent's placeholder is <c>corral-cred-</c> and this.</summary>
    internal const string McpCredential = "mcp-token";

    private static GatewayServer StartGateway(LabPolicy policy, LabPki pki, ConcurrentQueue<FlowRecord> records, GatewayOptions listeners)
    {
        var gateway = new GatewayServer(policy.Compiled, listeners with
        {
            HostsFile = policy.HostsPath,
            Interception = new GatewayInterception(pki.InterceptionCa, pki.UpstreamRoots),
            // A Ctrl-C or a failed scenario should not wait long for the agent's last connection.
            Limits = new GatewayLimits { DrainTimeout = TimeSpan.FromSeconds(2) },
        }, NullLoggerFactory.Instance, flowLog: new CollectingFlowLog(records));
        gateway.Start();
        return gateway;
    }

    private static Func<StandInRequest, StandInResponse> Handler(StandIn standIn, McpToolCatalog mcpTools) => standIn.Name switch
    {
        var n when n == LabHosts.Mcp.Name => mcpTools.Handle,
        var n when n == LabHosts.Login.Name => _ => new StandInResponse(200, "application/json", "{\"token_type\":\"Bearer\",\"expires_in\":3599,\"access_token\":\"lab-token\"}"),
        var n when n == LabHosts.Registry.Name => _ => new StandInResponse(200, "application/vnd.oci.image.manifest.v1+json", "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"}"),
        _ => r => new StandInResponse(200, "text/plain", $"received {r.Body.Length} bytes"),
    };

    private static IpPrefix Prefix(string text) => IpPrefix.TryParse(text, out var p, out var e) ? p : throw new InvalidOperationException(e);

    private sealed record LabPolicy(string Path, string HostsPath, CompiledPolicy Compiled, CompileOptions Options, string McpToken);

    /// <summary>Keeps every flow record in memory so each scenario can name its deciding rule.</summary>
    private sealed class CollectingFlowLog(ConcurrentQueue<FlowRecord> records) : IFlowLog
    {
        public void Write(FlowRecord record) => records.Enqueue(record);
    }

    /// <summary>A pass's stand-in servers, stopped together.</summary>
    private sealed class StandIns : IAsyncDisposable
    {
        private readonly Dictionary<string, StandInServer> _servers = [];

        public void Add(string name, StandInServer server) => _servers[name] = server;

        public StandInServer this[string name] => _servers[name];

        /// <summary>The HTTPS stand-ins, by host name.</summary>
        public IReadOnlyDictionary<string, StandInServer> Https => LabHosts.HttpsStandIns.ToDictionary(s => s.Name, s => _servers[s.Name]);

        public async ValueTask DisposeAsync()
        {
            foreach (var server in _servers.Values) await server.DisposeAsync();
        }
    }

    /// <summary>A temporary folder for a pass's policy, feeds and hosts map, removed afterwards.</summary>
    private sealed class LabFolder : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("corral-lab-").FullName;

        public void Dispose()
        {
            try { Directory.Delete(Path, true); } catch (IOException) { }
        }
    }
}

using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Corral.Certificates;
using Corral.Gateway;
using Corral.Gateway.FlowLog;
using Corral.Gateway.Hosting;
using Corral.Policy;
using Corral.Policy.Addressing;
using Corral.Policy.Compilation;
using Corral.Policy.Loading;
using Corral.Policy.Model;
using Corral.Policy.Templates;
using Microsoft.Extensions.Logging.Abstractions;

namespace Corral.Lab;

/// <summary>
/// Runs the lab: the Foundry pack in Corral's gateway (explicit proxy, interception CA), real HTTPS stand-ins on
/// loopback, and an agent that plays each attack scenario and checks what reached the far end.
/// </summary>
public sealed class LabRunner(TextWriter progress)
{
    private readonly ConcurrentQueue<FlowRecord> _records = new();

    public async Task<LabReport> RunAsync(CancellationToken ct = default)
    {
        var started = DateTimeOffset.UtcNow;
        var clock = Stopwatch.StartNew();
        var folder = Path.Combine(Path.GetTempPath(), "corral-lab-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(folder);
        var notes = new List<string>();
        try
        {
            // ---- the policy: the Foundry pack, agent = 127.0.0.1, spoke = 127.0.1.0/24 ----
            var policyPath = Path.Combine(folder, "corral.yaml");
            File.WriteAllText(policyPath, AzureFoundryTemplate.Render(new AzureFoundryOptions { AgentSubnet = LabNetwork.AgentSubnet, SpokeCidrs = [LabNetwork.SpokeCidr] }));
            Directory.CreateDirectory(Path.Combine(folder, "feeds"));
            File.WriteAllText(Path.Combine(folder, "feeds", "threat-ips.txt"), $"# lab threat feed\n{LabNetwork.CommandAndControl.Address}\n");
            File.WriteAllText(Path.Combine(folder, "feeds", "threat-domains.txt"), $"# lab threat feed\n{LabNetwork.CommandAndControl.Name}\n");
            var hostsPath = Path.Combine(folder, "hosts");
            File.WriteAllText(hostsPath, LabNetwork.HostsFile());
            var compileOptions = new CompileOptions { PublicStandIns = LabNetwork.PublicStandIns.Split(',').Select(Prefix).ToArray() };
            var check = PolicyChecker.CheckFile(policyPath, options: compileOptions);
            if (!check.Succeeded) throw new InvalidOperationException("the lab's policy does not check: " + string.Join("; ", check.Diagnostics.Where(d => d.IsError)));
            progress.WriteLine($"lab: Foundry pack loaded ({check.Compiled!.Rules.Count} rules, policy {check.Compiled.Hash[..12]})");

            // ---- certificates: a public CA for internet stand-ins, Microsoft's (pinned), and Corral's interception CA ----
            using var publicCa = CertificateAuthority.Create(new CaOptions { CommonName = "Lab Public Root CA" });
            using var microsoftCa = CertificateAuthority.Create(new CaOptions { CommonName = "Lab Microsoft Root CA" });
            using var interceptionCa = CertificateAuthority.Create(new CaOptions { CommonName = "Corral Lab Interception CA" });
            var publicMinter = new LeafMinter(publicCa);
            var microsoftMinter = new LeafMinter(microsoftCa);
            var leaves = LabNetwork.HttpsStandIns.ToDictionary(s => s.Name,
                s => s == LabNetwork.Login || s == LabNetwork.Registry ? microsoftMinter.Mint(s.Name) : publicMinter.Mint(s.Name));

            // ---- stand-ins ----
            var servers = new Dictionary<string, StandInServer>();
            try
            {
                foreach (var s in LabNetwork.HttpsStandIns)
                    servers[s.Name] = new StandInServer(new IPEndPoint(s.Address, LabNetwork.HttpsPort), leaves[s.Name], Handler(s));
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AccessDenied)
            {
                throw new InvalidOperationException($"the lab binds port {LabNetwork.HttpsPort} on loopback stand-in addresses: run it as root, " +
                                                    "or allow it with: sudo sysctl net.ipv4.ip_unprivileged_port_start=443");
            }
            await using var database = new StandInServer(LabNetwork.SpokeDatabase, null, null);
            progress.WriteLine($"lab: {servers.Count} HTTPS stand-ins on 127.0.0.2-7:443, spoke database on {LabNetwork.SpokeDatabase}");

            // ---- the gateway ----
            await using var gateway = new GatewayServer(check.Compiled, new GatewayOptions
            {
                Listen = new IPEndPoint(IPAddress.Loopback, 0),
                HostsFile = hostsPath,
                Interception = new GatewayInterception(interceptionCa, [publicCa.Certificate, microsoftCa.Certificate]),
            }, NullLoggerFactory.Instance, flowLog: new CollectingFlowLog(_records));
            gateway.Start();
            progress.WriteLine($"lab: gateway on {gateway.ListenEndPoint} (loopback stand-ins treated as public inside the lab only)");

            var agent = new Agent(gateway.ListenEndPoint!, interceptionCa.Certificate, publicCa.Certificate,
                new Dictionary<string, string> { [LabNetwork.Login.Name] = leaves[LabNetwork.Login.Name].Thumbprint, [LabNetwork.Registry.Name] = leaves[LabNetwork.Registry.Name].Thumbprint });
            var context = new ScenarioContext(agent, servers, database, _records, gateway, policyPath, compileOptions, interceptionCa.Certificate);
            var results = new List<ScenarioResult>();
            foreach (var scenario in Scenarios.All)
            {
                progress.Write($"lab: [{scenario.Number,2}/{Scenarios.All.Count}] {scenario.Title} ... ");
                ScenarioResult result;
                try
                {
                    result = await ScenarioPlays.PlayAsync(scenario, context, ct);
                }
                catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
                {
                    result = new ScenarioResult(scenario.Number, scenario.Id, scenario.Title, scenario.Expected, $"error: {e.Message}", null, false, scenario.Owasp, 0, false);
                }
                progress.WriteLine(result.Passed ? "pass" : $"FAIL ({result.Observed})");
                results.Add(result);
            }
            foreach (var server in servers.Values) await server.DisposeAsync();
            notes.Add("explicit-proxy mode (HTTPS_PROXY); transparent-mode replay is not part of this lab yet");
            notes.Add("watch -> enforce promotion is applied by swapping the compiled policy in the running gateway (no restart)");
            return new LabReport(started, clock.Elapsed, "explicit proxy", results, notes);
        }
        finally
        {
            try { Directory.Delete(folder, true); } catch (IOException) { }
        }
    }

    private static Func<StandInRequest, StandInResponse> Handler(StandIn standIn) => standIn.Name switch
    {
        var n when n == LabNetwork.Mcp.Name => McpStandIn.Handle,
        var n when n == LabNetwork.Login.Name => _ => new StandInResponse(200, "application/json", "{\"token_type\":\"Bearer\",\"expires_in\":3599,\"access_token\":\"lab-token\"}"),
        var n when n == LabNetwork.Registry.Name => _ => new StandInResponse(200, "application/vnd.oci.image.manifest.v1+json", "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"}"),
        _ => r => new StandInResponse(200, "text/plain", $"received {r.Body.Length} bytes"),
    };

    private static IpPrefix Prefix(string text) => IpPrefix.TryParse(text, out var p, out var e) ? p : throw new InvalidOperationException(e);

    /// <summary>Keeps every flow record in memory so each scenario can name its deciding rule.</summary>
    private sealed class CollectingFlowLog(ConcurrentQueue<FlowRecord> records) : IFlowLog
    {
        public void Write(FlowRecord record) => records.Enqueue(record);
    }
}

/// <summary>What scenarios share: the agent, the stand-ins, the flow records, and the running gateway.</summary>
internal sealed record ScenarioContext(Agent Agent, IReadOnlyDictionary<string, StandInServer> Servers, StandInServer Database,
    ConcurrentQueue<FlowRecord> Records, GatewayServer Gateway, string PolicyPath, CompileOptions CompileOptions, X509Certificate2 InterceptionCa)
{
    public StandInServer Server(StandIn s) => Servers[s.Name];

    /// <summary>Where the MCP tool response told the agent to send its data (set by the tool-call scenario).</summary>
    public string? InjectedUrl { get; set; }

    /// <summary>The last record about a host (the request record inside a decrypted flow, else the decision).</summary>
    public FlowRecord? LastRecordFor(string host, FlowEvent? kind = null) =>
        Records.Where(r => r.Host == host && r.Event != FlowEvent.Close && (kind is null || r.Event == kind)).LastOrDefault();

    public FlowRecord? LastDecisionTo(IPEndPoint destination) =>
        Records.Where(r => r.Event == FlowEvent.Decision && Equals(r.Destination, destination)).LastOrDefault();

    /// <summary>Sets one rule's mode in the policy file and swaps the recompiled policy into the running gateway.</summary>
    public void SetMode(string rule, RuleMode mode)
    {
        var text = File.ReadAllText(PolicyPath);
        var (edited, error) = PolicyEditor.SetRuleMode(PolicyPath, text, rule, mode);
        if (error is not null) throw new InvalidOperationException(error);
        File.WriteAllText(PolicyPath, edited);
        var check = PolicyChecker.CheckFile(PolicyPath, options: CompileOptions);
        if (!check.Succeeded) throw new InvalidOperationException("edited policy does not check");
        Gateway.Policy.Swap(check.Compiled!);
    }
}

/// <summary>
/// The agent: an HTTP client that goes through the gateway as HTTPS_PROXY, trusts the public roots and Corral's CA,
/// and pins Microsoft's platform certificates the way the real runtime does.
/// </summary>
internal sealed class Agent(IPEndPoint proxy, X509Certificate2 interceptionCa, X509Certificate2 publicCa, IReadOnlyDictionary<string, string> pins)
{
    public readonly ConcurrentDictionary<string, X509Certificate2> SeenCertificates = new();

    public HttpClient Client() => new(new SocketsHttpHandler
    {
        Proxy = new WebProxy($"http://{proxy}"),
        UseProxy = true,
        PooledConnectionLifetime = TimeSpan.Zero,
        SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = Validate },
    }) { Timeout = TimeSpan.FromSeconds(20) };

    private bool Validate(object sender, X509Certificate? certificate, X509Chain? _, SslPolicyErrors errors)
    {
        if (certificate is null) return false;
        var host = ((SslStream)sender).TargetHostName;
        var presented = new X509Certificate2(certificate);
        SeenCertificates[host] = presented;
        if (pins.TryGetValue(host, out var pin)) return presented.Thumbprint == pin;
        if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0) return false;
        using var chain = new X509Chain { ChainPolicy = { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck } };
        chain.ChainPolicy.CustomTrustStore.Add(interceptionCa);
        chain.ChainPolicy.CustomTrustStore.Add(publicCa);
        return chain.Build(presented);
    }

    /// <summary>Opens a raw CONNECT tunnel and returns the proxy's status code.</summary>
    public async Task<(int Status, string Head)> ConnectAsync(string authority, byte[]? send = null)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(proxy);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n"));
        var buffer = new byte[4096];
        var n = await stream.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(20));
        var head = Encoding.ASCII.GetString(buffer, 0, n);
        var status = head.Length >= 12 && int.TryParse(head.AsSpan(9, 3), out var s) ? s : 0;
        if (status == 200 && send is not null)
        {
            await stream.WriteAsync(send);
            try { await stream.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(5)); } catch (Exception e) when (e is IOException or TimeoutException) { }
        }
        return (status, head);
    }
}

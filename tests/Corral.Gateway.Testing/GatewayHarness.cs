using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Corral.Gateway;
using Corral.Gateway.FlowLog;
using Corral.Gateway.Hosting;
using Corral.Gateway.NameService;
using Corral.Gateway.Resolution;
using Corral.Policy;
using Corral.Policy.Addressing;
using Corral.Policy.Compilation;
using Corral.Policy.Templates;

namespace Corral.Testing;

/// <summary>
/// A gateway in-process on 127.0.0.1 with its own temp folder (policy, hosts file, flow log), loopback treated as
/// public stand-ins, and a dial guard that refuses anything but loopback (and the 198.18.0.0/15 addresses of a test's
/// own namespaces) so a bug can never send traffic off the box.
/// </summary>
public sealed class GatewayHarness : IAsyncDisposable
{
    public string Folder { get; }
    public string PolicyPath { get; }
    /// <summary>Where the flow log is written (nothing is written there when the harness was made without one).</summary>
    public string FlowLogPath { get; }
    public CompiledPolicy Policy { get; }
    public GatewayServer Server { get; }
    public CollectingLoggerProvider Logs { get; } = new();
    public IPEndPoint Proxy => Server.ListenEndPoint!;
    public static readonly CompileOptions StandIns = new() { PublicStandIns = [Prefix("127.0.0.0/8")] };

    private GatewayHarness(string folder, string policyPath, string hosts, GatewayLimits? limits, bool transparent, GatewayInterception? interception = null,
        Func<IResolver, IResolver>? wrapResolver = null, DnsOptions? dns = null, bool flowLog = true, FlowLogFormat flowLogFormat = FlowLogFormat.Corral)
    {
        Folder = folder;
        PolicyPath = policyPath;
        FlowLogPath = Path.Combine(folder, "flows.jsonl");
        var hostsPath = Path.Combine(folder, "hosts");
        File.WriteAllText(hostsPath, hosts);
        var check = PolicyChecker.CheckFile(policyPath, options: StandIns);
        Assert.True(check.Succeeded, string.Join("\n", check.Diagnostics));
        Policy = check.Compiled!;
        var resolver = new Resolver(HostsFile.Load(hostsPath));
        Server = new GatewayServer(Policy, new GatewayOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            Transparent = transparent ? new IPEndPoint(IPAddress.Any, 0) : null,
            FlowLogPath = flowLog ? FlowLogPath : null,
            FlowLogFormat = flowLogFormat,
            HostsFile = hostsPath,
            Limits = limits ?? new GatewayLimits(),
            Interception = interception,
            Dns = dns,
            DialGuard = e => IPAddress.IsLoopback(e.Address) || IsTestNamespaceAddress(e.Address),
        }, Logs, wrapResolver is null ? resolver : wrapResolver(resolver));
        Server.Start();
    }

    /// <summary>198.18.0.0/15: the stand-in "internet" addresses a namespace test creates itself.</summary>
    public static bool IsTestNamespaceAddress(IPAddress a) => Prefix("198.18.0.0/15").Contains(a);

    /// <summary>The Foundry pack from <c>corral init</c>, agent subnet = loopback, optionally all in watch mode.</summary>
    public static GatewayHarness Foundry(string hosts, bool watch = false, GatewayLimits? limits = null, bool transparent = false, string agentSubnet = "127.0.0.0/8",
        GatewayInterception? interception = null, DnsOptions? dns = null, FlowLogFormat flowLogFormat = FlowLogFormat.Corral)
    {
        var folder = NewFolder();
        var policy = FoundryPack.WriteTo(folder, "p.yaml", new AzureFoundryOptions { AgentSubnet = agentSubnet, Watch = watch });
        return new GatewayHarness(folder, policy, hosts, limits, transparent, interception, dns: dns, flowLogFormat: flowLogFormat);
    }

    /// <summary>A small policy for plain HTTP: www.example.test permitted on 80 and 8080, the rest of the internet denied.</summary>
    public static GatewayHarness PlainHttp(string hosts, GatewayLimits? limits = null)
    {
        var folder = NewFolder();
        var policy = Path.Combine(folder, "p.yaml");
        File.WriteAllText(policy, """
            version: 1
            name: plain-http-test
            defaultAction: deny
            smartGroups:
              agents: { cidrs: [127.0.0.0/8] }
            webGroups:
              web: { domains: [www.example.test, other.example.test] }
            rules:
              - { name: allow-web, priority: 1, source: [agents], webGroups: [web], action: permit, ports: [80, 8080] }
              - { name: deny-internet, priority: 2, source: [agents], destination: [public-internet], action: deny }
            """);
        return new GatewayHarness(folder, policy, hosts, limits, false);
    }

    /// <summary>A policy given as YAML text, with any files it names (relative to the policy), and optionally a resolver that watches the gateway's own.</summary>
    /// <param name="policyFileName">The policy's file name in the folder (diagnostics name it).</param>
    /// <param name="dns">Also serve the resolver, as these options say.</param>
    /// <param name="flowLog">Write the flow log to <see cref="FlowLogPath"/>.</param>
    /// <param name="transparent">Also listen transparently, on every interface (0.0.0.0) and any port.</param>
    public static GatewayHarness Custom(string yaml, string hosts, GatewayLimits? limits = null, IReadOnlyDictionary<string, string>? files = null,
        Func<IResolver, IResolver>? wrapResolver = null, GatewayInterception? interception = null, string policyFileName = "p.yaml", DnsOptions? dns = null,
        bool flowLog = true, bool transparent = false)
    {
        var folder = NewFolder();
        var policy = Path.Combine(folder, policyFileName);
        File.WriteAllText(policy, yaml);
        foreach (var (name, text) in files ?? new Dictionary<string, string>())
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(folder, name))!);
            File.WriteAllText(Path.Combine(folder, name), text);
        }
        return new GatewayHarness(folder, policy, hosts, limits, transparent, interception, wrapResolver, dns, flowLog);
    }

    private static string NewFolder()
    {
        var folder = Path.Combine(Path.GetTempPath(), "corral-gw-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(folder);
        return folder;
    }

    private static IpPrefix Prefix(string text) => IpPrefix.TryParse(text, out var p, out var e) ? p : throw new InvalidOperationException(e);

    /// <summary>An HttpClient that goes through the explicit proxy and trusts the given test certificate.</summary>
    public HttpClient Client(System.Security.Cryptography.X509Certificates.X509Certificate2? trust = null) =>
        new(new SocketsHttpHandler
        {
            Proxy = new WebProxy($"http://{Proxy}"),
            UseProxy = true,
            SslOptions = { RemoteCertificateValidationCallback = (_, cert, _, errors) => trust is not null && cert is not null && cert.GetCertHashString() == trust.GetCertHashString() },
        }) { Timeout = TimeSpan.FromSeconds(30) };

    /// <summary>Opens a raw TCP connection to the explicit proxy.</summary>
    public async Task<TcpClient> RawAsync()
    {
        var c = new TcpClient();
        await c.ConnectAsync(Proxy);
        c.ReceiveTimeout = 30_000;
        return c;
    }

    /// <summary>Waits (generously) until the flow log holds records matching the filter, and returns every record.</summary>
    public async Task<List<JsonElement>> WaitForRecordsAsync(Func<List<JsonElement>, bool> ready, int seconds = 20)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        List<JsonElement> records = [];
        while (DateTime.UtcNow < deadline)
        {
            records = ReadRecords();
            if (ready(records)) return records;
            await Task.Delay(50);
        }
        return records;
    }

    public List<JsonElement> ReadRecords()
    {
        if (!File.Exists(FlowLogPath)) return [];
        using var stream = new FileStream(FlowLogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var list = new List<JsonElement>();
        while (reader.ReadLine() is { } line)
            if (line.EndsWith('}')) list.Add(JsonDocument.Parse(line).RootElement.Clone());
        return list;
    }

    /// <summary>The decision and close records of the flow whose decision matches.</summary>
    public async Task<(JsonElement Decision, JsonElement Close)> FlowAsync(Func<JsonElement, bool> decision)
    {
        string? id = null;
        var records = await WaitForRecordsAsync(rs =>
        {
            var d = rs.FirstOrDefault(r => r.GetProperty("event").GetString() == "decision" && decision(r));
            if (d.ValueKind == JsonValueKind.Undefined) return false;
            id = d.GetProperty("flow").GetString();
            return rs.Any(r => r.GetProperty("event").GetString() == "close" && r.GetProperty("flow").GetString() == id);
        });
        var dec = records.First(r => r.GetProperty("event").GetString() == "decision" && decision(r));
        id = dec.GetProperty("flow").GetString();
        var close = records.FirstOrDefault(r => r.GetProperty("event").GetString() == "close" && r.GetProperty("flow").GetString() == id);
        Assert.True(close.ValueKind != JsonValueKind.Undefined, $"no close record for flow {id}");
        return (dec, close);
    }

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        try { Directory.Delete(Folder, recursive: true); } catch (IOException) { }
    }
}

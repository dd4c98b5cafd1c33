using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Corral.Certificates;
using Corral.Gateway;
using Corral.Gateway.Hosting;
using Corral.Policy;
using Corral.Policy.Addressing;
using Corral.Policy.Compilation;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

// Measures TLS interception on loopback, medians over rounds:
//   1. leaf minting time per new name;
//   2. new HTTPS connections per second (CONNECT + TLS + one GET) — intercepted (warm certificate cache), spliced, direct;
//   3. requests per second on one kept-alive connection — intercepted, spliced, direct.
// Usage: dotnet run -c Release --project bench/Corral.Interception.Load -- [--rounds N] [--seconds N] [--concurrency N]
var rounds = Arg("--rounds", 3);
var seconds = Arg("--seconds", 3);
var concurrency = Arg("--concurrency", 8);

using var ca = CertificateAuthority.Create(new CaOptions());
using var upstreamCa = CertificateAuthority.Create(new CaOptions { CommonName = "Bench Upstream CA" });

// 1. Minting.
var minter = new LeafMinter(ca);
for (var i = 0; i < 20; i++) minter.Mint($"warm{i}.example").Dispose();
var mintMs = new List<double>();
for (var i = 0; i < 300; i++)
{
    var t = Stopwatch.GetTimestamp();
    using var leaf = minter.Mint($"host{i}.example");
    mintMs.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
}
Console.WriteLine($"leaf minting: median {Median(mintMs):F3} ms, p99 {Percentile(mintMs, 0.99):F3} ms per new name (300 names)");

// Upstream: Kestrel on 127.0.0.1, keep-alive, certificates for both names from its own CA.
var upstreamMinter = new LeafMinter(upstreamCa);
var certs = new Dictionary<string, X509Certificate2> { ["tool.bench.example"] = upstreamMinter.Mint("tool.bench.example"), ["splice.bench.example"] = upstreamMinter.Mint("splice.bench.example") };
var builder = WebApplication.CreateSlimBuilder();
builder.Logging.ClearProviders();
builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l =>
{
    l.Protocols = HttpProtocols.Http1;
    l.UseHttps(h => h.ServerCertificateSelector = (_, name) => certs[name ?? "tool.bench.example"]);
}));
var app = builder.Build();
app.MapGet("/", () => "ok");
await app.StartAsync();
var upstreamPort = new Uri(app.Urls.First()).Port;

var folder = Directory.CreateTempSubdirectory("corral-ibench-").FullName;
var policyPath = Path.Combine(folder, "bench.yaml");
File.WriteAllText(policyPath, $"""
    version: 1
    webGroups:
      tools: {"{"} domains: [tool.bench.example] {"}"}
      spliced: {"{"} domains: [splice.bench.example] {"}"}
    rules:
      - {"{"} name: intercept, priority: 1, webGroups: [tools], action: permit, decrypt: allowed {"}"}
      - {"{"} name: splice, priority: 2, webGroups: [spliced], action: permit {"}"}
    """);
File.WriteAllText(Path.Combine(folder, "hosts"), "127.0.0.1 tool.bench.example\n127.0.0.1 splice.bench.example\n");
var loopback = IpPrefix.TryParse("127.0.0.1/32", out var prefix, out var prefixError) ? prefix : throw new InvalidOperationException(prefixError);
var check = PolicyChecker.CheckFile(policyPath, options: new CompileOptions { PublicStandIns = [loopback] });
if (!check.Succeeded) { Console.Error.WriteLine(string.Join("\n", check.Diagnostics)); return 1; }
await using var gateway = new GatewayServer(check.Compiled!, new GatewayOptions
{
    Listen = new IPEndPoint(IPAddress.Loopback, 0),
    HostsFile = Path.Combine(folder, "hosts"),
    FlowLogPath = Environment.GetEnvironmentVariable("BENCH_FLOWLOG") ?? Path.Combine(folder, "flows.jsonl"),
    Interception = new GatewayInterception(ca, [upstreamCa.Certificate]),
}, NullLoggerFactory.Instance);
gateway.Start();
var proxy = gateway.ListenEndPoint!;
Console.WriteLine($"machine: {Environment.ProcessorCount} cores, .NET {Environment.Version}; upstream 127.0.0.1:{upstreamPort}, gateway {proxy}");

HttpClient Client(bool viaProxy, bool keepAlive) => new(new SocketsHttpHandler
{
    Proxy = viaProxy ? new WebProxy($"http://{proxy}") : null,
    UseProxy = viaProxy,
    PooledConnectionLifetime = keepAlive ? Timeout.InfiniteTimeSpan : TimeSpan.Zero,
    ConnectCallback = viaProxy ? null : async (ctx, ct) =>
    {
        var s = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await s.ConnectAsync(IPAddress.Loopback, upstreamPort, ct);
        return new NetworkStream(s, true);
    },
    #pragma warning disable CA5359 // the load generator talks only to its own loopback interceptor with a throwaway CA
    SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = (_, _, _, _) => true },
    #pragma warning restore CA5359
}) { Timeout = TimeSpan.FromSeconds(30) };

string Url(string host, bool viaProxy) => $"https://{host}:{upstreamPort}/";

var cases = new (string Name, string Host, bool ViaProxy)[] { ("intercepted", "tool.bench.example", true), ("spliced", "splice.bench.example", true), ("direct", "splice.bench.example", false) };
foreach (var (_, host, via) in cases) // warm: JIT, the leaf cache, pools
{
    using var warm = Client(via, false);
    for (var i = 0; i < 50; i++)
    {
        try { await warm.GetStringAsync(Url(host, via)); }
        catch (HttpRequestException e) { Console.Error.WriteLine($"warm-up {host} via proxy={via}: {e.Message} / {e.InnerException?.Message}"); throw; }
    }
}

var newConnections = cases.ToDictionary(c => c.Name, _ => new List<double>());
var keptAlive = cases.ToDictionary(c => c.Name, _ => new List<double>());
for (var round = 0; round < rounds; round++)
{
    foreach (var (name, host, via) in cases) // interleaved, so drift affects every case alike
    {
        newConnections[name].Add(await RateAsync(() => Client(via, keepAlive: false), Url(host, via), concurrency, seconds, shareClient: false));
        keptAlive[name].Add(await RateAsync(() => Client(via, keepAlive: true), Url(host, via), 1, seconds, shareClient: true));
    }
}
Console.WriteLine();
Console.WriteLine("| measure | intercepted | spliced | direct | intercepted / direct |");
Console.WriteLine("|---|---|---|---|---|");
Console.WriteLine($"| new HTTPS connections/s ({concurrency} clients) | {Median(newConnections["intercepted"]):F0} | {Median(newConnections["spliced"]):F0} | {Median(newConnections["direct"]):F0} | {Median(newConnections["intercepted"]) / Median(newConnections["direct"]):F2}x |");
Console.WriteLine($"| requests/s, one kept-alive connection | {Median(keptAlive["intercepted"]):F0} | {Median(keptAlive["spliced"]):F0} | {Median(keptAlive["direct"]):F0} | {Median(keptAlive["intercepted"]) / Median(keptAlive["direct"]):F2}x |");
Console.WriteLine($"(medians of {rounds} rounds of {seconds} s; spread: intercepted new connections {string.Join(", ", newConnections["intercepted"].Select(v => v.ToString("F0")))})");
await app.StopAsync();
Directory.Delete(folder, true);
return 0;

static async Task<double> RateAsync(Func<HttpClient> make, string url, int clients, int seconds, bool shareClient)
{
    var stop = Stopwatch.StartNew();
    long done = 0;
    var shared = shareClient ? make() : null;
    var workers = Enumerable.Range(0, clients).Select(async _ =>
    {
        while (stop.Elapsed.TotalSeconds < seconds)
        {
            if (shared is not null) { await shared.GetStringAsync(url); }
            else { using var c = make(); await c.GetStringAsync(url); }
            Interlocked.Increment(ref done);
        }
    }).ToArray();
    await Task.WhenAll(workers);
    shared?.Dispose();
    return done / stop.Elapsed.TotalSeconds;
}

static double Median(List<double> values) => Percentile(values, 0.5);

static double Percentile(List<double> values, double p)
{
    var sorted = values.Order().ToList();
    return sorted[(int)Math.Min(sorted.Count - 1, Math.Round(p * (sorted.Count - 1)))];
}

int Arg(string name, int fallback) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1]) : fallback;

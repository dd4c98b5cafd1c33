using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Corral.Gateway;
using Corral.Gateway.Hosting;
using Corral.Gateway.NameService;
using Corral.Policy;
using Microsoft.Extensions.Logging.Abstractions;

// Measures the gateway's resolver on loopback, flow log on (as in production), against a stand-in upstream that
// answers at once from its own thread:
//   1. cached answers per second: --clients UDP clients, each keeping --window queries outstanding for a permitted
//      name that is in the cache, for --seconds;
//   2. added latency: one query at a time, p50/p99 through the gateway minus the same queries sent to the upstream
//      directly, for names the cache has not seen (the gateway's full path: parse, policy, upstream, record) and for
//      cached names.
// Usage: dotnet run -c Release -- [--seconds N] [--clients N] [--window N] [--samples N]
var seconds = Arg("--seconds", 5);
var clients = Arg("--clients", 4);
var window = Arg("--window", 16);
var samples = Arg("--samples", 5000);

var folder = Directory.CreateTempSubdirectory("corral-dns-load-").FullName;
var policyPath = Path.Combine(folder, "bench.yaml");
File.WriteAllText(policyPath, """
    version: 1
    name: dns-bench
    defaultAction: deny
    smartGroups:
      agents: { cidrs: [127.0.0.0/8] }
    webGroups:
      web: { domains: ["*.bench.test"] }
    rules:
      - { name: allow-web, priority: 1, source: [agents], webGroups: [web], action: permit, ports: [443] }
      - { name: deny-internet, priority: 2, source: [agents], destination: [public-internet], action: deny }
    dns: { mode: enforce }
    """);
var check = PolicyChecker.CheckFile(policyPath);
if (!check.Succeeded) { Console.Error.WriteLine(string.Join("\n", check.Diagnostics)); return 1; }

using var upstream = new AnsweringUpstream();
await using var gateway = new GatewayServer(check.Compiled!, new GatewayOptions
{
    Listen = new IPEndPoint(IPAddress.Loopback, 0),
    FlowLogPath = Path.Combine(folder, "flows.jsonl"),
    Dns = new DnsOptions
    {
        Listen = new IPEndPoint(IPAddress.Loopback, 0), Upstream = upstream.EndPoint,
        QueriesPerSecondPerSource = 1e9, Burst = 1e9, // one source sends everything here: measure the resolver, not the limit
        CacheEntries = samples * 2 + 1000,
    },
}, NullLoggerFactory.Instance);
gateway.Start();
var dns = gateway.DnsEndPoint!;
Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}; resolver {dns}, upstream {upstream.EndPoint}");

// Warm-up: JIT, the cache entry the rate test asks for.
for (var i = 0; i < 2000; i++) await AskAsync(dns, Query($"warm{i % 50}.bench.test", (ushort)i));

// 1. cached answers per second
var answered = 0L;
using (var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds)))
{
    var started = Stopwatch.GetTimestamp();
    await Task.WhenAll(Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Connect(dns);
        var query = Query("warm1.bench.test", (ushort)c);
        var buffer = new byte[2048];
        for (var w = 0; w < window; w++) socket.Send(query);
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await socket.ReceiveAsync(buffer, SocketFlags.None, stop.Token);
                Interlocked.Increment(ref answered);
                socket.Send(query);
            }
            catch (OperationCanceledException) { break; }
        }
    })));
    var elapsed = Stopwatch.GetElapsedTime(started).TotalSeconds;
    Console.WriteLine($"cached answers: {answered / elapsed:0} per second ({clients} clients x {window} outstanding, {seconds} s)");
}

// 2. added latency, one query at a time
var direct = new List<double>();
var through = new List<double>();
var cached = new List<double>();
for (var i = 0; i < samples; i++)
{
    var name = $"n{i}.bench.test";
    direct.Add(await TimeAsync(upstream.EndPoint, Query(name, (ushort)i)));
    through.Add(await TimeAsync(dns, Query(name, (ushort)i)));        // not in the cache yet: the full path
    cached.Add(await TimeAsync(dns, Query(name, (ushort)(i + 1))));   // now cached
}
Console.WriteLine($"upstream alone:        p50 {P(direct, 50):0.000} ms  p99 {P(direct, 99):0.000} ms");
Console.WriteLine($"through the resolver:  p50 {P(through, 50):0.000} ms  p99 {P(through, 99):0.000} ms  (added p50 {P(through, 50) - P(direct, 50):0.000} ms)");
Console.WriteLine($"cached answer:         p50 {P(cached, 50):0.000} ms  p99 {P(cached, 99):0.000} ms");
Directory.Delete(folder, true);
return 0;

static double P(List<double> values, int percentile)
{
    var sorted = values.Order().ToArray();
    return sorted[Math.Min(sorted.Length - 1, sorted.Length * percentile / 100)];
}

static async Task<double> TimeAsync(IPEndPoint server, byte[] query)
{
    var started = Stopwatch.GetTimestamp();
    await AskAsync(server, query);
    return Stopwatch.GetElapsedTime(started).TotalMilliseconds;
}

static async Task AskAsync(IPEndPoint server, byte[] query)
{
    using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    socket.Connect(server);
    socket.Send(query);
    var buffer = new byte[2048];
    using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
    await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
}

static byte[] Query(string name, ushort id)
{
    var bytes = new List<byte> { (byte)(id >> 8), (byte)id, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0 };
    foreach (var label in name.Split('.')) { bytes.Add((byte)label.Length); bytes.AddRange(Encoding.ASCII.GetBytes(label)); }
    bytes.AddRange([0, 0, 1, 0, 1]);
    return [.. bytes];
}

int Arg(string name, int fallback) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], out var v) ? v : fallback;

/// <summary>Answers every query at once with one A record (TTL 300), from its own thread: the upstream alone.</summary>
sealed class AnsweringUpstream : IDisposable
{
    private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);

    public AnsweringUpstream()
    {
        _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        EndPoint = (IPEndPoint)_socket.LocalEndPoint!;
        new Thread(Serve) { IsBackground = true, Name = "stand-in upstream" }.Start();
    }

    public IPEndPoint EndPoint { get; }

    private void Serve()
    {
        var buffer = new byte[4096];
        EndPoint from = new IPEndPoint(IPAddress.Any, 0);
        while (true)
        {
            int n;
            try { n = _socket.ReceiveFrom(buffer, ref from); }
            catch (Exception) { return; }
            var end = 12;
            while (buffer[end] != 0) end += 1 + buffer[end];
            end += 5;
            buffer[2] = (byte)(0x80 | (buffer[2] & 0x01));
            buffer[3] = 0x80;
            buffer[6] = 0; buffer[7] = 1; buffer[8] = buffer[9] = buffer[10] = buffer[11] = 0;
            byte[] record = [0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0x01, 0x2C, 0, 4, 198, 18, 0, 7];
            record.CopyTo(buffer, end);
            try { _socket.SendTo(buffer, 0, end + record.Length, SocketFlags.None, from); }
            catch (SocketException) { }
        }
    }

    public void Dispose() => _socket.Dispose();
}

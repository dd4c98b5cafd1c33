using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Corral.Gateway;
using Corral.Gateway.Hosting;
using Corral.Policy;
using Microsoft.Extensions.Logging.Abstractions;

// Measures the gateway on loopback against the same work done directly:
//   1. CONNECT tunnel throughput vs a direct loopback copy (one stream, download);
//   2. new tunnels per second (connect, CONNECT, one byte each way, close) with concurrent clients;
//   3. added latency per new connection: (proxy connect + CONNECT + first byte round trip) minus the direct equivalent.
//   4. the same download split over --parallel N tunnels at once (64 by default), against N direct streams;
//   5. with --idle N: memory per idle tunnel: N tunnels opened (one byte each way, then left idle), the gateway's
//      VmRSS read from /proc before and after (--gateway-pid PID when the gateway runs in its own process).
// Each figure is the median over several rounds. Usage: dotnet run -c Release -- [--rounds N] [--mib N] [--seconds N]
//   [--concurrency N] [--samples N] [--warmup N] [--parallel N] [--only throughput|parallel|rate|latency] [--sink-port N] [--proxy ADDR:PORT] [--gateway-pid PID] [--idle N]
//   [--write-policy FILE]
if (args.Contains("--help") || args.Contains("-h"))
{
    Console.WriteLine("""
        Corral.Gateway.Load: the gateway on loopback against the same work done directly (medians of --rounds).
          --rounds N (5)  --mib N (1024, per throughput run)  --seconds N (3, per rate run)  --concurrency N (16)
          --samples N (2000 latency pairs)  --warmup N (200 pings)  --parallel N (64 tunnels)
          --only throughput|parallel|rate|latency   run one measure (while profiling)
          --proxy ADDR:PORT      measure a gateway in its own process (corral gateway POLICY --listen ADDR:PORT)
          --write-policy FILE    write the policy that gateway needs, and exit
          --idle N [--gateway-pid PID]   memory and CPU per idle tunnel: open N tunnels, read the gateway's VmRSS
          --sink-port N          fix the sink's port
        """);
    return 0;
}
var rounds = Arg("--rounds", 5);
var mib = Arg("--mib", 1024);
var seconds = Arg("--seconds", 3);
var concurrency = Arg("--concurrency", 16);
var latencySamples = Arg("--samples", 2000);
var parallel = Arg("--parallel", 64);
var idleTunnels = Arg("--idle", 0);
var gatewayPid = Arg("--gateway-pid", 0);
// --only throughput|parallel|rate|latency runs one measure (e.g. while profiling the gateway); the others print 0.
var only = Array.IndexOf(args, "--only") is var oi and >= 0 ? args[oi + 1] : null;
bool Runs(string measure) => only is null || only == measure;

var folder = Directory.CreateTempSubdirectory("corral-load-").FullName;
var policyPath = Path.Combine(folder, "bench.yaml");
File.WriteAllText(policyPath, """
    version: 1
    name: bench
    defaultAction: deny
    smartGroups:
      agents: { cidrs: [127.0.0.0/8] }
      sink: { cidrs: [127.0.0.0/8] }
    rules:
      - { name: allow-sink, priority: 1, source: [agents], destination: [sink], action: permit }
    """);
var check = PolicyChecker.CheckFile(policyPath);
if (!check.Succeeded) { Console.Error.WriteLine(string.Join("\n", check.Diagnostics)); return 1; }

// --sink-port N fixes the sink's port; --proxy ADDR:PORT measures a gateway running elsewhere (e.g. `corral gateway
// bench.yaml` in its own process, with the policy this program writes to --write-policy FILE) instead of in-process.
var sinkPort = Arg("--sink-port", 0);
var external = Array.IndexOf(args, "--proxy") is var pi and >= 0 ? IPEndPoint.Parse(args[pi + 1]) : null;
if (Array.IndexOf(args, "--write-policy") is var wi and >= 0) { File.Copy(policyPath, args[wi + 1], overwrite: true); Directory.Delete(folder, true); Console.WriteLine($"policy written to {args[wi + 1]}"); return 0; }

await using var sink = new SinkServer(sinkPort);
await using var gateway = new GatewayServer(check.Compiled!, new GatewayOptions
{
    Listen = new IPEndPoint(IPAddress.Loopback, 0),
    FlowLogPath = Path.Combine(folder, "flows.jsonl"), // on, as in production: the flow log is part of the cost
}, NullLoggerFactory.Instance);
if (external is null) gateway.Start();
var proxy = external ?? gateway.ListenEndPoint!;
Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}; sink {sink.EndPoint}, gateway {proxy}");

// Warm-up: JIT (tiered compilation keeps recompiling the connection path for the first few hundred connections), pools,
// first flow-log write.
var warmup = Arg("--warmup", 200);
for (var i = 0; i < warmup; i++) { await PingAsync(proxy, sink.EndPoint); await PingAsync(null, sink.EndPoint); }

if (idleTunnels > 0)
{
    // Idle memory only: the gateway's resident memory grows by this much per open, idle tunnel.
    var pid = external is null ? Environment.ProcessId : gatewayPid;
    if (pid == 0) { Console.Error.WriteLine("--idle with --proxy needs --gateway-pid PID"); return 2; }
    await IdleMemoryAsync(proxy, sink.EndPoint, idleTunnels, pid, external is null);
    if (external is null) await gateway.StopAsync();
    Directory.Delete(folder, true);
    return 0;
}

// Allocation per tunnelled MiB: the whole process's allocations during a tunnelled download minus a direct one.
if (only is null)
{
var before = GC.GetTotalAllocatedBytes(precise: true);
await ThroughputAsync(null, sink.EndPoint, mib);
var directAllocated = GC.GetTotalAllocatedBytes(precise: true) - before;
before = GC.GetTotalAllocatedBytes(precise: true);
await ThroughputAsync(proxy, sink.EndPoint, mib);
var tunnelAllocated = GC.GetTotalAllocatedBytes(precise: true) - before;
Console.WriteLine($"allocated during a {mib} MiB download: direct {directAllocated / 1024.0:F0} KiB, tunnelled {tunnelAllocated / 1024.0:F0} KiB " +
                  $"({(tunnelAllocated - directAllocated) / (double)mib:F0} bytes per tunnelled MiB added by the gateway)");
}

// With the gateway in its own process, its CPU time (user + system, from /proc) per unit of work: far steadier than
// rates on a shared machine, since it does not count the time the gateway waited for a core.
var cpuPid = external is null ? 0 : gatewayPid;
long connectionsMade = 0;
var cpuPerGiB = new List<double>(); var cpuPerConn = new List<double>(); var cpuPerGiBPar = new List<double>();
// This process's own CPU (client + sink) per GiB, direct and tunnelled: with the gateway's, the whole machine's cost of
// a tunnelled GiB against a direct one, which bounds the ratio on a CPU-bound machine.
var harnessDirect = new List<double>(); var harnessTunnel = new List<double>();
var harnessDirectPar = new List<double>(); var harnessTunnelPar = new List<double>();
static double SelfCpuMs() => Process.GetCurrentProcess().TotalProcessorTime.TotalMilliseconds;
var direct = new List<double>(); var tunnel = new List<double>();
var directRate = new List<double>(); var tunnelRate = new List<double>();
var directPar = new List<double>(); var tunnelPar = new List<double>();
var p50 = new List<double>(); var p99 = new List<double>(); var directP50 = new List<double>(); var directP99 = new List<double>();
for (var r = 1; r <= rounds; r++)
{
    var self0 = SelfCpuMs();
    direct.Add(Runs("throughput") ? await ThroughputAsync(null, sink.EndPoint, mib) : 1);
    if (Runs("throughput")) harnessDirect.Add((SelfCpuMs() - self0) * 1024.0 / mib);
    var cpu0 = GatewayCpuMs(cpuPid);
    self0 = SelfCpuMs();
    tunnel.Add(Runs("throughput") ? await ThroughputAsync(proxy, sink.EndPoint, mib) : 0);
    if (Runs("throughput")) harnessTunnel.Add((SelfCpuMs() - self0) * 1024.0 / mib);
    if (cpuPid != 0 && Runs("throughput")) cpuPerGiB.Add((GatewayCpuMs(cpuPid) - cpu0) * 1024.0 / mib);
    self0 = SelfCpuMs();
    directPar.Add(Runs("parallel") ? await ParallelThroughputAsync(null, sink.EndPoint, mib, parallel) : 1);
    if (Runs("parallel")) harnessDirectPar.Add((SelfCpuMs() - self0) * 1024.0 / mib);
    cpu0 = GatewayCpuMs(cpuPid);
    self0 = SelfCpuMs();
    tunnelPar.Add(Runs("parallel") ? await ParallelThroughputAsync(proxy, sink.EndPoint, mib, parallel) : 0);
    if (Runs("parallel")) harnessTunnelPar.Add((SelfCpuMs() - self0) * 1024.0 / mib);
    if (cpuPid != 0 && Runs("parallel")) cpuPerGiBPar.Add((GatewayCpuMs(cpuPid) - cpu0) * 1024.0 / mib);
    directRate.Add(Runs("rate") ? await RateAsync(null, sink.EndPoint, seconds, concurrency) : 1);
    cpu0 = GatewayCpuMs(cpuPid);
    var connsBefore = Volatile.Read(ref connectionsMade);
    tunnelRate.Add(Runs("rate") ? await RateAsync(proxy, sink.EndPoint, seconds, concurrency) : 0);
    if (cpuPid != 0 && Runs("rate")) cpuPerConn.Add((GatewayCpuMs(cpuPid) - cpu0) * 1000.0 / (Volatile.Read(ref connectionsMade) - connsBefore));
    var (d50, d99, t50, t99) = Runs("latency") ? await LatencyAsync(proxy, sink.EndPoint, latencySamples) : default;
    directP50.Add(d50); directP99.Add(d99); p50.Add(t50 - d50); p99.Add(t99 - d99);
    Console.WriteLine($"round {r}: direct {direct[^1]:F0} MiB/s, tunnel {tunnel[^1]:F0} MiB/s ({tunnel[^1] / direct[^1]:F2}x); " +
                      $"{parallel} streams direct {directPar[^1]:F0} MiB/s, tunnels {tunnelPar[^1]:F0} MiB/s ({tunnelPar[^1] / directPar[^1]:F2}x); " +
                      $"new conns/s direct {directRate[^1]:F0}, tunnels/s {tunnelRate[^1]:F0}; added latency p50 {p50[^1] * 1000:F0} us, p99 {p99[^1] * 1000:F0} us");
}
Console.WriteLine();
Console.WriteLine($"median over {rounds} rounds:");
Console.WriteLine($"  throughput   direct {Median(direct):F0} MiB/s, CONNECT tunnel {Median(tunnel):F0} MiB/s, ratio {Median(tunnel.Zip(direct, (t, d) => t / d).ToList()):F2}x");
Console.WriteLine($"  {parallel} streams   direct {Median(directPar):F0} MiB/s, {parallel} tunnels {Median(tunnelPar):F0} MiB/s, ratio {Median(tunnelPar.Zip(directPar, (t, d) => t / d).ToList()):F2}x");
Console.WriteLine($"  new conns/s  direct {Median(directRate):F0}, through the gateway {Median(tunnelRate):F0} ({concurrency} concurrent clients), ratio {Median(tunnelRate.Zip(directRate, (t, d) => t / d).ToList()):F2}x");
if (cpuPerGiB.Count > 0) Console.WriteLine($"  gateway CPU  {Median(cpuPerGiB):F0} ms per tunnelled GiB (one stream)");
if (cpuPerGiBPar.Count > 0) Console.WriteLine($"  gateway CPU  {Median(cpuPerGiBPar):F0} ms per tunnelled GiB ({parallel} streams)");
if (harnessDirect.Count > 0) Console.WriteLine($"  client+sink CPU  {Median(harnessDirect):F0} ms per GiB direct, {Median(harnessTunnel):F0} ms tunnelled (one stream{(external is null ? "; the in-process gateway included" : "")})");
if (harnessDirectPar.Count > 0) Console.WriteLine($"  client+sink CPU  {Median(harnessDirectPar):F0} ms per GiB direct, {Median(harnessTunnelPar):F0} ms tunnelled ({parallel} streams{(external is null ? "; the in-process gateway included" : "")})");
if (cpuPerConn.Count > 0) Console.WriteLine($"  gateway CPU  {Median(cpuPerConn):F0} us per new tunnelled connection");
Console.WriteLine($"  latency      direct connect+round trip p50 {Median(directP50) * 1000:F0} us, p99 {Median(directP99) * 1000:F0} us");
Console.WriteLine($"  added by the gateway per new connection: p50 {Median(p50) * 1000:F0} us, p99 {Median(p99) * 1000:F0} us");
if (external is null) await gateway.StopAsync();
Directory.Delete(folder, true);
return 0;

// User + system CPU time of a process in ms (clock ticks of 10 ms); 0 without a pid.
static double GatewayCpuMs(int pid)
{
    if (pid == 0) return 0;
    var f = File.ReadAllText($"/proc/{pid}/stat").Split(')')[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
    return (long.Parse(f[11]) + long.Parse(f[12])) * 10.0;
}

int Arg(string name, int fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1]) : fallback;
}

static double Median(List<double> values)
{
    var s = values.Order().ToList();
    return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2;
}

// Opens a connection to the sink, directly or through a CONNECT tunnel.
static async Task<Socket> OpenAsync(IPEndPoint? proxy, IPEndPoint target)
{
    var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
    await socket.ConnectAsync(proxy ?? target);
    if (proxy is null) return socket;
    await socket.SendAsync(Encoding.ASCII.GetBytes($"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n"));
    // "HTTP/1.1 200 Connection Established\r\n\r\n" is 39 bytes.
    var head = new byte[39];
    var got = 0;
    while (got < head.Length)
    {
        var n = await socket.ReceiveAsync(head.AsMemory(got));
        if (n == 0) throw new IOException("proxy closed");
        got += n;
    }
    if (head[9] != (byte)'2') throw new IOException("proxy refused: " + Encoding.ASCII.GetString(head));
    return socket;
}

static async Task<double> ThroughputAsync(IPEndPoint? proxy, IPEndPoint target, int mib)
{
    var watch = Stopwatch.StartNew();
    var total = await DownloadAsync(proxy, target, mib * 1024L * 1024);
    return total / 1024.0 / 1024.0 / watch.Elapsed.TotalSeconds;
}

// N streams at once share the same total; the figure is total bytes over the time until the last one finished.
static async Task<double> ParallelThroughputAsync(IPEndPoint? proxy, IPEndPoint target, int mib, int streams)
{
    var each = mib * 1024L * 1024 / streams;
    var watch = Stopwatch.StartNew();
    var totals = await Task.WhenAll(Enumerable.Range(0, streams).Select(_ => Task.Run(() => DownloadAsync(proxy, target, each))));
    return totals.Sum() / 1024.0 / 1024.0 / watch.Elapsed.TotalSeconds;
}

static async Task<long> DownloadAsync(IPEndPoint? proxy, IPEndPoint target, long bytes)
{
    using var socket = await OpenAsync(proxy, target);
    var buffer = new byte[256 * 1024];
    var request = new byte[9];
    request[0] = SinkServer.Download;
    BitConverter.TryWriteBytes(request.AsSpan(1), bytes);
    await socket.SendAsync(request);
    long total = 0;
    while (true)
    {
        var n = await socket.ReceiveAsync(buffer);
        if (n == 0) break;
        total += n;
    }
    if (total != bytes) throw new IOException($"short download: {total} of {bytes}");
    return total;
}

// Opens N tunnels (8 at a time), each exchanging one byte, and leaves them open and idle; reports the gateway's
// resident memory per tunnel. Memory the kernel holds for sockets is not in VmRSS (it is the same direct or not).
static async Task IdleMemoryAsync(IPEndPoint proxy, IPEndPoint target, int count, int pid, bool inProcess)
{
    static long Rss(int pid) => long.Parse(File.ReadAllLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:"))
        .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
    if (inProcess) { GC.Collect(); GC.WaitForPendingFinalizers(); }
    await Task.Delay(1000);
    var before = Rss(pid);
    var sockets = new Socket[count];
    var next = -1;
    await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
    {
        for (var i = Interlocked.Increment(ref next); i < count; i = Interlocked.Increment(ref next))
        {
            var s = await OpenAsync(proxy, target);
            await s.SendAsync(new byte[] { SinkServer.Ping });
            var one = new byte[1];
            if (await s.ReceiveAsync(one) != 1) throw new IOException("no pong");
            sockets[i] = s;
        }
    })));
    await Task.Delay(3000); // let the gateway settle (buffers returned, timers idle)
    if (inProcess) { GC.Collect(); GC.WaitForPendingFinalizers(); }
    var after = Rss(pid);
    // An idle tunnel must cost no CPU either: the gateway's CPU time over 3 s with all of them open.
    static long CpuTicks(int pid) => File.ReadAllText($"/proc/{pid}/stat").Split(')')[1].Split(' ', StringSplitOptions.RemoveEmptyEntries) is var f ? long.Parse(f[11]) + long.Parse(f[12]) : 0;
    var cpuBefore = CpuTicks(pid);
    await Task.Delay(3000);
    Console.WriteLine($"gateway CPU while {count} tunnels sat idle for 3 s: {(CpuTicks(pid) - cpuBefore) * 10} ms");
    Console.WriteLine($"idle tunnels: {count} open; gateway (pid {pid}{(inProcess ? ", in-process with client and sink" : "")}) VmRSS {before / 1048576.0:F1} MiB -> {after / 1048576.0:F1} MiB: " +
                      $"{(after - before) / 1024.0 / count:F1} KiB per idle tunnel");
    foreach (var s in sockets) s.Dispose();
}

static async Task<double> PingAsync(IPEndPoint? proxy, IPEndPoint target)
{
    var watch = Stopwatch.StartNew();
    using var socket = await OpenAsync(proxy, target);
    await socket.SendAsync(new byte[] { SinkServer.Ping });
    var one = new byte[1];
    if (await socket.ReceiveAsync(one) != 1) throw new IOException("no pong");
    var elapsed = watch.Elapsed.TotalMilliseconds;
    socket.Shutdown(SocketShutdown.Send);
    await socket.ReceiveAsync(one); // wait for the far side to close too, so connections do not pile up
    return elapsed;
}

async Task<double> RateAsync(IPEndPoint? proxy, IPEndPoint target, int seconds, int concurrency)
{
    var until = Stopwatch.GetTimestamp() + seconds * Stopwatch.Frequency;
    long done = 0;
    var watch = Stopwatch.StartNew();
    await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
    {
        while (Stopwatch.GetTimestamp() < until)
        {
            await PingAsync(proxy, target);
            Interlocked.Increment(ref done);
            if (proxy is not null) Interlocked.Increment(ref connectionsMade);
        }
    })));
    return done / watch.Elapsed.TotalSeconds;
}

static async Task<(double D50, double D99, double T50, double T99)> LatencyAsync(IPEndPoint proxy, IPEndPoint target, int samples)
{
    var d = new List<double>(samples);
    var t = new List<double>(samples);
    for (var i = 0; i < samples; i++)
    {
        d.Add(await PingAsync(null, target));
        t.Add(await PingAsync(proxy, target));
    }
    return (Percentile(d, 0.50), Percentile(d, 0.99), Percentile(t, 0.50), Percentile(t, 0.99));
}

static double Percentile(List<double> values, double p)
{
    var s = values.Order().ToList();
    return s[Math.Min(s.Count - 1, (int)Math.Ceiling(p * s.Count) - 1)];
}

/// <summary>The far end: on byte 1 and an 8-byte length streams that many bytes and closes; on byte 2 answers one byte.</summary>
sealed class SinkServer : IAsyncDisposable
{
    public const byte Download = 1, Ping = 2;
    private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    private readonly Task _loop;

    public SinkServer(int port)
    {
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, port));
        _listener.Listen(4096);
        _loop = Task.Run(AcceptAsync);
    }

    public IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndPoint!;

    private async Task AcceptAsync()
    {
        while (true)
        {
            Socket s;
            try { s = await _listener.AcceptAsync(); } catch (Exception) { return; }
            s.NoDelay = true;
            _ = Task.Run(() => ServeAsync(s));
        }
    }

    private async Task ServeAsync(Socket s)
    {
        using (s)
        {
            try
            {
                var one = new byte[1];
                if (await s.ReceiveAsync(one) != 1) return;
                if (one[0] == Download)
                {
                    var length = new byte[8];
                    for (var got = 0; got < 8;)
                    {
                        var n = await s.ReceiveAsync(length.AsMemory(got));
                        if (n == 0) return;
                        got += n;
                    }
                    var chunk = new byte[256 * 1024];
                    for (var left = BitConverter.ToInt64(length); left > 0; left -= chunk.Length)
                        await s.SendAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, left)));
                    s.Shutdown(SocketShutdown.Send);
                    return;
                }
                await s.SendAsync(one);
                await s.ReceiveAsync(one); // until the client closes
            }
            catch (SocketException) { }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Dispose();
        try { await _loop; } catch (Exception) { }
    }
}

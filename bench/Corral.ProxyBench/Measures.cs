using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Corral.ProxyBench;

/// <summary>The measurements: each warms up, measures once, and returns its figures as JSON.</summary>
sealed class Measures(Target target, BenchArgs a)
{
    private readonly double _seconds = a.Double("--seconds", 5);
    private readonly double _warmup = a.Double("--warmup", 1);
    private readonly int _concurrency = a.Int("--concurrency", 16);
    private readonly string _splice = a.Text("--splice-host", "splice.bench.example");
    private readonly int? _pid = a.Has("--pid") ? a.Int("--pid", 0) : null;

    /// <summary>MiB/s downloaded over TLS through --streams tunnels at once, --mib MiB in all.</summary>
    public async Task<JsonObject> ThroughputAsync()
    {
        var streams = Math.Max(1, a.Int("--streams", 1));
        var totalMiB = a.Double("--mib", 1024);
        var each = (long)(totalMiB * 1024 * 1024 / streams);
        await using (var warm = await BenchConnection.OpenTlsAsync(target, _splice)) await DownloadAsync(warm, 4 << 20);
        var connections = await Task.WhenAll(Enumerable.Range(0, streams).Select(_ => BenchConnection.OpenTlsAsync(target, _splice)));
        var cpu = Cpu();
        var watch = Stopwatch.StartNew();
        await Task.WhenAll(connections.Select(c => DownloadAsync(c, each)));
        var elapsed = watch.Elapsed.TotalSeconds;
        var cpuUsed = Cpu() - cpu;
        foreach (var c in connections) await c.DisposeAsync();
        var mib = each * streams / 1024.0 / 1024.0;
        return Result("MiB/s", mib / elapsed, new() { ["streams"] = streams, ["mib"] = mib, ["seconds"] = elapsed, ["proxy_cpu_s_per_gib"] = PerUnit(cpuUsed, mib / 1024) });
    }

    private async Task DownloadAsync(BenchConnection c, long bytes)
    {
        await c.SendGetAsync($"/bytes/{bytes}", $"{_splice}:{target.TlsPort}");
        if (await c.ReadResponseAsync() != bytes) throw new IOException("short download");
    }

    /// <summary>
    /// New connections per second, with p50/p99 per connection: connect (+ CONNECT) + full TLS handshake + one GET,
    /// then close; --host picks splice or bump. <paramref name="agentStyle"/> is how an agent calls a tool: the GET
    /// says <c>Connection: close</c> and is read to the server's close.
    /// </summary>
    public async Task<JsonObject> ConnectRateAsync(bool agentStyle)
    {
        var host = a.Text("--host", _splice);
        string? issuer = null;
        var (rate, extra) = await RateAsync(async (_, ct) =>
        {
            await using var c = await BenchConnection.OpenTlsAsync(target, host, ct);
            issuer ??= c.Issuer;
            await c.SendGetAsync("/", $"{host}:{target.TlsPort}", ct, close: agentStyle);
            await c.ReadResponseAsync(ct);
            if (agentStyle) await c.ReadToEndAsync(ct);
        });
        extra["issuer"] = issuer;
        extra["host"] = host;
        return Result("conn/s", rate, extra);
    }

    /// <summary>Plain HTTP requests/s on --concurrency kept-alive connections (absolute-form through the proxy).</summary>
    public Task<JsonObject> PlainKeepAliveAsync()
    {
        var host = a.Text("--host", "plain.bench.example");
        var url = target.Proxy is null ? "/" : $"http://{host}:{target.HttpPort}/";
        return KeepAliveAsync(ct => BenchConnection.OpenPlainAsync(target, ct), url, $"{host}:{target.HttpPort}");
    }

    /// <summary>
    /// Requests/s on --concurrency kept-alive TLS connections; through the proxy to --host (bumped or spliced).
    /// --header "Name: value" adds a header to every request (a credential's placeholder, for the cost of placing it).
    /// </summary>
    public Task<JsonObject> TlsKeepAliveAsync()
    {
        var host = a.Text("--host", _splice);
        return KeepAliveAsync(ct => BenchConnection.OpenTlsAsync(target, host, ct), "/", $"{host}:{target.TlsPort}", a.Has("--header") ? a.Text("--header", "") : null);
    }

    private async Task<JsonObject> KeepAliveAsync(Func<CancellationToken, Task<BenchConnection>> open, string url, string hostHeader, string? extraHeader = null)
    {
        var connections = new BenchConnection?[_concurrency];
        string? issuer = null;
        var (rate, extra) = await RateAsync(async (worker, ct) =>
        {
            var c = connections[worker] ??= await open(ct);
            issuer ??= c.Issuer;
            try
            {
                await c.SendGetAsync(url, hostHeader, ct, extraHeader: extraHeader);
                await c.ReadResponseAsync(ct);
            }
            catch
            {
                connections[worker] = null; // a broken connection is replaced; the failure is counted
                await c.DisposeAsync();
                throw;
            }
        });
        foreach (var c in connections) if (c is not null) await c.DisposeAsync();
        extra["issuer"] = issuer;
        return Result("req/s", rate, extra);
    }

    /// <summary>
    /// The allowlist holds: a name outside it (--host, which the proxy's hosts file maps to the upstream) must be
    /// refused, by an error answer to CONNECT or a cut TLS handshake. Value 1 when refused; an error when let through.
    /// </summary>
    public async Task<JsonObject> DeniedAsync()
    {
        var host = a.Text("--host", "denied.bench.example");
        try
        {
            await using var c = await BenchConnection.OpenTlsAsync(target, host);
            await c.SendGetAsync("/", $"{host}:{target.TlsPort}");
            await c.ReadResponseAsync();
        }
        catch (Exception e) when (e is IOException or System.Security.Authentication.AuthenticationException or System.Net.Sockets.SocketException)
        {
            return Result("refused", 1, new() { ["host"] = host, ["how"] = e.Message });
        }
        throw new IOException($"{host} is outside the allowlist but was let through");
    }

    /// <summary>Opens --count spliced TLS tunnels, leaves them idle, and reads the proxy's RSS (--pid, with descendants) before and after.</summary>
    public async Task<JsonObject> IdleTunnelsAsync()
    {
        if (_pid is not { } pid) throw new ArgumentException("idle needs --pid (the proxy's process id)");
        var count = Math.Max(1, a.Int("--count", 10_000));
        var settle = a.Double("--settle", 3);
        await Task.Delay(TimeSpan.FromSeconds(settle));
        var before = ProcessTree.RssKiB(pid);
        var open = new List<BenchConnection>(count);
        var gate = new SemaphoreSlim(Math.Max(1, _concurrency));
        var watch = Stopwatch.StartNew();
        var tasks = Enumerable.Range(0, count).Select(async _ =>
        {
            await gate.WaitAsync();
            try { return await BenchConnection.OpenTlsAsync(target, _splice); }
            finally { gate.Release(); }
        }).ToList();
        string? error = null;
        foreach (var t in tasks)
        {
            try { open.Add(await t); }
            catch (Exception e) { error ??= e.Message; }
        }
        var opened = watch.Elapsed.TotalSeconds;
        await Task.Delay(TimeSpan.FromSeconds(settle));
        var after = ProcessTree.RssKiB(pid);
        // Every tunnel must still be alive when the memory is read: one GET on a sample of them proves it.
        var alive = 0;
        foreach (var c in open.Where((_, i) => i % Math.Max(1, open.Count / 50) == 0))
        {
            try { await c.SendGetAsync("/", $"{_splice}:{target.TlsPort}"); await c.ReadResponseAsync(); alive++; }
            catch (Exception e) { error ??= "idle tunnel died: " + e.Message; }
        }
        var checkedCount = open.Where((_, i) => i % Math.Max(1, open.Count / 50) == 0).Count();
        await Task.WhenAll(open.Select(c => c.DisposeAsync().AsTask()));
        if (open.Count < count || alive < checkedCount)
            throw new IOException($"opened {open.Count} of {count} tunnels, {alive} of {checkedCount} checked alive; first error: {error}");
        return Result("KiB/tunnel", (after - before) / (double)count, new()
        {
            ["count"] = count, ["rss_before_kib"] = before, ["rss_after_kib"] = after, ["open_seconds"] = opened,
            ["processes"] = ProcessTree.WithDescendants(pid).Count,
        });
    }

    // Runs perWorker(worker index) in a loop on --concurrency workers for --warmup then --seconds; counts completions
    // and failures; more than 1 % failures fails the measurement.
    private async Task<(double Rate, JsonObject Extra)> RateAsync(Func<int, CancellationToken, Task> perWorker)
    {
        long done = 0, errors = 0, everDone = 0;
        var times = Enumerable.Range(0, _concurrency).Select(_ => new List<double>(4096)).ToArray(); // per worker: no lock
        string? firstError = null;
        var measuring = false;
        using var stop = new CancellationTokenSource();
        var watch = new Stopwatch();
        var workers = Enumerable.Range(0, _concurrency).Select(w => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    var started = Stopwatch.GetTimestamp();
                    await perWorker(w, stop.Token);
                    Interlocked.Increment(ref everDone);
                    if (!Volatile.Read(ref measuring)) continue;
                    Interlocked.Increment(ref done);
                    times[w].Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested) { }
                catch (Exception e)
                {
                    if (Volatile.Read(ref measuring)) Interlocked.Increment(ref errors);
                    Interlocked.CompareExchange(ref firstError, e.GetType().Name + ": " + e.Message, null);
                }
            }
        })).ToArray();
        // The warm-up lasts at least until every worker could have finished one operation (a starved machine can
        // take seconds to JIT a first handshake), and the window until one operation completed; both capped.
        await Task.Delay(TimeSpan.FromSeconds(_warmup));
        for (var w = Stopwatch.StartNew(); Interlocked.Read(ref everDone) < _concurrency && w.Elapsed < SlowStartCap;) await Task.Delay(50);
        var cpuStart = Cpu();
        var switchesStart = Switches();
        Interlocked.Exchange(ref done, 0);
        Volatile.Write(ref measuring, true);
        watch.Start();
        await Task.Delay(TimeSpan.FromSeconds(_seconds));
        while (Interlocked.Read(ref done) == 0 && watch.Elapsed < SlowStartCap) await Task.Delay(50);
        var count = Interlocked.Read(ref done);
        var elapsed = watch.Elapsed.TotalSeconds;
        var cpu = Cpu() - cpuStart;
        var switches = Switches() - switchesStart;
        Volatile.Write(ref measuring, false);
        await stop.CancelAsync();
        await Task.WhenAll(workers);
        if (count == 0 || errors > count / 100)
            throw new IOException($"{errors} failures against {count} completions; first: {firstError}");
        return (count / elapsed, new JsonObject
        {
            ["count"] = count, ["errors"] = errors, ["seconds"] = elapsed, ["concurrency"] = _concurrency,
            ["proxy_cpu_ms_per_op"] = PerUnit(cpu * 1000, count), ["proxy_switches_per_op"] = PerUnit(switches, count), ["first_error"] = firstError,
            ["p50_ms"] = Percentile(times, 0.5), ["p99_ms"] = Percentile(times, 0.99),
        });
    }

    // Over the operations completed while measuring (a worker's list is only read once the workers have stopped).
    private static double? Percentile(List<double>[] times, double p)
    {
        var all = times.SelectMany(t => t).ToList();
        return all.Count == 0 ? null : Math.Round(Stats.Percentile(all, p), 3);
    }

    private static readonly TimeSpan SlowStartCap = TimeSpan.FromSeconds(60);

    private double Cpu() => _pid is { } p ? ProcessTree.CpuSeconds(p) : 0;

    private long Switches() => _pid is { } p ? ProcessTree.ContextSwitches(p) : 0;

    private JsonNode? PerUnit(double value, double units) => _pid is null || units <= 0 ? null : JsonValue.Create(Math.Round(value / units, 4));

    private JsonObject Result(string unit, double value, JsonObject extra)
    {
        var o = new JsonObject
        {
            ["target"] = target.Proxy is null ? "direct" : target.Proxy.ToString(),
            ["value"] = Math.Round(value, 3),
            ["unit"] = unit,
        };
        foreach (var (k, v) in extra.ToList()) { extra.Remove(k); o[k] = v; }
        return o;
    }
}

/// <summary>Order statistics for the measurements.</summary>
static class Stats
{
    public static double Percentile(List<double> values, double p)
    {
        var s = values.Order().ToList();
        return s[Math.Clamp((int)Math.Ceiling(p * s.Count) - 1, 0, s.Count - 1)];
    }
}

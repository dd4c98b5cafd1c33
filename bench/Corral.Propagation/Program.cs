using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using Corral.Admin;
using Corral.Benchmarks;
using Corral.Gateway;
using Corral.Gateway.Hosting;
using Corral.Gateway.Reload;
using Corral.Policy;
using Corral.Policy.Addressing;
using Corral.Policy.Compilation;
using Corral.Policy.Editing;
using Corral.Policy.Model;
using Corral.Policy.Templates;
using Microsoft.Extensions.Logging.Abstractions;

// Usage: Corral.Propagation [foundry|big|load|all] [--changes N] [--warmup N] [--reloads N]
// --warmup N: changes made first and not counted (default 10; 0 for big), as a long-running gateway has its code warm.
// --probe-gap-ms N: pause between probe flows (default 0: back to back, which keeps both cores of a 2-core machine busy
// and so slows the compile it is timing; 1 paces the prober at about a flow per millisecond).
// Everything runs in this process on loopback: a stand-in upstream, the gateway, the reloader and the admin server.
// --gateway-process CORRAL_DLL: run the gateway as `corral gateway` in its own process instead (as it is deployed), so
// the prober, the upstream and the API client do not share its thread pool; foundry and big only.
var mode = args.FirstOrDefault(a => !a.StartsWith("--")) ?? "all";
int Arg(string name, int fallback) { var i = Array.IndexOf(args, name); return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1]) : fallback; }
var changes = Arg("--changes", 100);
var reloads = Arg("--reloads", 100);
var warmup = Arg("--warmup", 10);
var probeGap = Arg("--probe-gap-ms", 0);
var gatewayDll = Array.IndexOf(args, "--gateway-process") is var g and >= 0 && g + 1 < args.Length ? Path.GetFullPath(args[g + 1]) : null;
if (gatewayDll is not null && !File.Exists(gatewayDll)) { Console.Error.WriteLine($"no such file: {gatewayDll}"); return 2; }
Console.WriteLine($"# Corral propagation harness — {DateTime.UtcNow:u}, {Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}");

if (mode is "foundry" or "all") await Propagation("foundry", Foundry(), changes, warmup, probeGap, gatewayDll);
if (mode is "big" or "all") await Propagation("big (1,000,000 feed entries + 100,000 domains)", Big(), Arg("--big-changes", Math.Min(changes, 20)), 0, probeGap, gatewayDll);
if (mode is "load" or "all") await UnderLoad(Foundry(), reloads); // in this process: it reads the reloader's status
return 0;

static string Foundry()
{
    var folder = Directory.CreateTempSubdirectory("corral-prop-foundry-").FullName;
    Directory.CreateDirectory(Path.Combine(folder, "feeds"));
    foreach (var feed in AzureFoundryTemplate.ThreatFeedFiles) File.WriteAllText(Path.Combine(folder, feed), AzureFoundryTemplate.FeedFileText(Path.GetFileName(feed)));
    var text = AzureFoundryTemplate.Render(new AzureFoundryOptions { AgentSubnet = "127.0.0.0/8" });
    // default-deny-internet starts in watch mode: the probe host passes; promoting it makes the probe host 403.
    text = text.Replace("destination: [public-internet], action: deny }", "destination: [public-internet], action: deny, mode: watch }");
    File.WriteAllText(Path.Combine(folder, "corral.yaml"), text);
    return Path.Combine(folder, "corral.yaml");
}

static string Big()
{
    BigPolicy.Ensure();
    var folder = Directory.CreateTempSubdirectory("corral-prop-big-").FullName;
    Directory.CreateDirectory(Path.Combine(folder, "feeds"));
    File.Copy(BigPolicy.FeedPath, Path.Combine(folder, "feeds", "threat-ips.txt"));
    var text = File.ReadAllText(BigPolicy.PolicyPath)
        .Replace("agents: { cidrs: [10.20.0.0/16] }", "agents: { cidrs: [10.20.0.0/16, 127.0.0.0/8] }")
        .Replace("destination: [public-internet], action: deny }", "destination: [public-internet], action: deny, mode: watch }");
    File.WriteAllText(Path.Combine(folder, "corral.yaml"), text);
    return Path.Combine(folder, "corral.yaml");
}

static async Task Propagation(string label, string policyPath, int changes, int warmup, int probeGap, string? gatewayDll)
{
    await using var world = await World.StartAsync(policyPath, gatewayDll);
    Console.WriteLine($"\n## {label}: {changes} changes each way after {warmup} uncounted warm-up changes, probe gap {probeGap} ms (compile of this policy: {world.CompileMs:F0} ms)" +
                      (gatewayDll is null ? "" : "; gateway in its own process (`corral gateway`)"));
    // What one new flow through the gateway takes, unchanged policy: the floor under every figure below.
    var flow = new List<double>();
    for (var i = 0; i < 300; i++)
    {
        var started = Stopwatch.GetTimestamp();
        await world.FlowAsync();
        if (i >= 100) flow.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
    }
    Report("one probe flow (connect, GET, answer), no change", flow);
    var api = new List<double>();
    var file = new List<double>();
    // In this process: how many changes were put in force derived from the policy in force (a rule's mode, no compile
    // first) — such a policy has no mode sites — against those compiled first.
    int derivedFirst = 0, compiledFirst = 0;
    var firstSwap = (Corral.Policy.Compilation.CompiledPolicy?)null;
    long firstSwapAt = 0;
    var apiSwapped = new List<double>();
    var fileSwapped = new List<double>();
    if (world.Gateway is { } inProcess) inProcess.Policy.Swapped += p =>
    {
        if (Interlocked.CompareExchange(ref firstSwap, p, null) is null) Volatile.Write(ref firstSwapAt, Stopwatch.GetTimestamp());
    };
    var apiDecided = new List<double>();
    var fileDecided = new List<double>();
    var enforce = false;
    var changesMade = new List<(DateTimeOffset At, bool Enforce, bool ViaApi)>(); // for a gateway in its own process: read from its flow log at the end
    for (var i = -2 * warmup; i < changes * 2; i++)
    {
        enforce = !enforce;
        var expected = enforce ? 403 : 200;
        var viaApi = i % 2 == 0;
        var text = world.Edited("default-deny-internet", enforce ? RuleMode.Enforce : RuleMode.Watch);
        var probe = world.ProbeUntilAsync(expected, probeGap);
        var t0 = Stopwatch.GetTimestamp();
        var t0Wall = DateTimeOffset.UtcNow;
        world.ProbeStart = t0;
        Volatile.Write(ref firstSwap, null);
        if (viaApi)
        {
            using var response = await world.SetModeAsync("default-deny-internet", enforce ? "enforce" : "watch");
            if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"API answered {(int)response.StatusCode}");
        }
        else
        {
            // Written the way an editor in another process writes (open, write, close, no hops through this
            // process's thread pool, which the prober keeps busy): the time measured is the gateway's, not ours.
            File.WriteAllText(policyPath, text);
        }
        var seenAt = await probe;
        if (i >= 0 && Volatile.Read(ref firstSwap) is { } first)
        {
            if (first.IsDerived) derivedFirst++;
            else compiledFirst++;
            (viaApi ? apiSwapped : fileSwapped).Add(Stopwatch.GetElapsedTime(t0, Volatile.Read(ref firstSwapAt)).TotalMilliseconds);
        }
        if (i >= 0)
        {
            (viaApi ? api : file).Add(Stopwatch.GetElapsedTime(t0, seenAt).TotalMilliseconds);
            // The decision instant itself: the earliest flow record after the change whose verdict is the new one
            // (the record is written right after Decide; wall clock on both sides, microsecond resolution).
            var decided = world.Gateway?.RecentFlows.Snapshot(world.Gateway.RecentFlows.Capacity,
                    r => r.Time >= t0Wall && r.Verdict is { } v && v.Rule?.Name == "default-deny-internet" && v.Enforced == enforce)
                .MinBy(r => r.Time);
            if (decided is not null) (viaApi ? apiDecided : fileDecided).Add((decided.Time - t0Wall).TotalMilliseconds);
            changesMade.Add((t0Wall, enforce, viaApi));
        }
        // Let the watcher see our own write-back settle before the next change (it reloads to the same hash).
        await Task.Delay(world.SettleMs);
    }
    if (world.Gateway is not null) Console.WriteLine($"changes put in force derived from the policy in force: {derivedFirst}; compiled first: {compiledFirst}");
    if (world.FlowLogPath is { } flowLog)
    {
        await Task.Delay(200); // the writer's batches reach the file within a few milliseconds
        var decisions = FlowLogDecisions(flowLog, "default-deny-internet");
        foreach (var (at, enforced, viaApi) in changesMade)
        {
            var first = decisions.FirstOrDefault(d => d.Time >= at && d.Enforced == enforced);
            if (first.Time != default) (viaApi ? apiDecided : fileDecided).Add((first.Time - at).TotalMilliseconds);
        }
    }
    Report("API call → first new flow decided by it (its answer back)", api);
    Report("file write → first new flow decided by it (its answer back)", file);
    Report("API call → the new policy swapped in", apiSwapped);
    Report("file write → the new policy swapped in", fileSwapped);
    Report("API call → the gateway's first decision by it (flow record)", apiDecided);
    Report("file write → the gateway's first decision by it (flow record)", fileDecided);
}

static async Task UnderLoad(string policyPath, int reloads)
{
    await using var world = await World.StartAsync(policyPath);
    Console.WriteLine($"\n## {reloads} reloads under continuous load (Foundry pack; 8 kept-alive clients + 4 new-connection clients)");
    using var stop = new CancellationTokenSource();
    long ok = 0, failed = 0;
    var clients = new List<Task>();
    for (var c = 0; c < 8; c++) clients.Add(Task.Run(async () =>
    {
        using var http = world.ProxyClient(keepAlive: true);
        while (!stop.IsCancellationRequested)
        {
            try { using var r = await http.GetAsync(world.ProbeUrl); if (r.StatusCode == HttpStatusCode.OK) Interlocked.Increment(ref ok); else Interlocked.Increment(ref failed); }
            catch (Exception) when (!stop.IsCancellationRequested) { Interlocked.Increment(ref failed); }
            catch (Exception) { }
        }
    }));
    for (var c = 0; c < 4; c++) clients.Add(Task.Run(async () =>
    {
        while (!stop.IsCancellationRequested)
        {
            try { if (await world.FlowAsync() == 200) Interlocked.Increment(ref ok); else Interlocked.Increment(ref failed); }
            catch (Exception) when (!stop.IsCancellationRequested) { Interlocked.Increment(ref failed); }
            catch (Exception) { }
        }
    }));
    await Task.Delay(500);
    var enforce = false;
    var sw = Stopwatch.StartNew();
    for (var i = 0; i < reloads; i++)
    {
        enforce = !enforce; // deny-east-west does not touch the load's destination: every request must still succeed
        if (i % 2 == 0)
        {
            using var r = await world.SetModeAsync("deny-east-west", enforce ? "enforce" : "watch");
            if (!r.IsSuccessStatusCode) throw new InvalidOperationException($"API answered {(int)r.StatusCode}");
        }
        else
        {
            var before = world.Reloader!.Status.Reloads;
            await File.WriteAllTextAsync(policyPath, world.Edited("deny-east-west", enforce ? RuleMode.Enforce : RuleMode.Watch));
            while (world.Reloader.Status.Reloads == before) await Task.Delay(1);
        }
        await Task.Delay(20);
    }
    var elapsed = sw.Elapsed;
    stop.Cancel();
    await Task.WhenAll(clients);
    var status = world.Reloader!.Status;
    Console.WriteLine($"reloads applied: {status.Reloads} (failures {status.Failures}) in {elapsed.TotalSeconds:F1} s; requests: {ok} ok, {failed} failed");
}

// The decision records of one rule in a gateway's flow log, oldest first: when each was decided, and whether enforced.
static List<(DateTimeOffset Time, bool Enforced)> FlowLogDecisions(string path, string rule)
{
    var found = new List<(DateTimeOffset, bool)>();
    using var reader = new StreamReader(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite));
    while (reader.ReadLine() is { } line)
    {
        using var record = System.Text.Json.JsonDocument.Parse(line);
        var root = record.RootElement;
        if (root.GetProperty("event").GetString() != "decision" || !root.TryGetProperty("rule", out var r) || r.ValueKind != System.Text.Json.JsonValueKind.String || r.GetString() != rule) continue;
        found.Add((DateTimeOffset.Parse(root.GetProperty("time").GetString()!, System.Globalization.CultureInfo.InvariantCulture), root.GetProperty("enforced").GetBoolean()));
    }
    found.Sort((a, b) => a.Item1.CompareTo(b.Item1));
    return found;
}

static void Report(string what, List<double> ms)
{
    if (ms.Count == 0) return;
    ms.Sort();
    double P(double q) => ms[Math.Min(ms.Count - 1, (int)Math.Ceiling(q * ms.Count) - 1)];
    Console.WriteLine($"{what}: n={ms.Count} p50={P(0.5):F2} ms p90={P(0.9):F2} ms p99={P(0.99):F2} ms max={ms[^1]:F2} ms");
}

/// <summary>Upstream, gateway, reloader (watching) and admin server on loopback, and a prober that makes new flows.</summary>
sealed class World : IAsyncDisposable
{
    private const string Token = "propagation-harness-token-0123456789";
    private readonly TcpListener _upstream = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    // In this process, or null when the gateway runs as its own process (GatewayProcess).
    public GatewayServer? Gateway { get; init; }
    public PolicyReloader? Reloader { get; init; }
    public AdminServer? Admin { get; init; }
    public Process? GatewayProcess { get; init; }
    public string? FlowLogPath { get; init; }
    public required IPEndPoint ProxyEndPoint { get; init; }
    public required HttpClient Api { get; init; }
    public required string PolicyPath { get; init; }
    public double CompileMs { get; init; }
    public int SettleMs => (int)Math.Clamp(CompileMs * 2 + 10, 10, 30_000);
    public long ProbeStart;
    private int UpstreamPort => ((IPEndPoint)_upstream.LocalEndpoint).Port;
    public Uri ProbeUrl => new($"http://probe.test:{UpstreamPort}/");

    public static async Task<World> StartAsync(string policyPath, string? gatewayDll = null)
    {
        var folder = Path.GetDirectoryName(policyPath)!;
        File.WriteAllText(Path.Combine(folder, "hosts"), "127.0.0.1 probe.test\n");
        var options = new CompileOptions { PublicStandIns = [IpPrefix.TryParse("127.0.0.0/8", out var p, out _) ? p : throw new InvalidOperationException()] };
        var check = PolicyChecker.CheckFile(policyPath, options: options);
        // Warm compile time (median of a few), for the report and to pace changes.
        var times = new List<double>();
        for (var i = 0; i < 5; i++)
        {
            var sw = Stopwatch.StartNew();
            PolicyChecker.CheckFile(policyPath, options: options);
            times.Add(sw.Elapsed.TotalMilliseconds);
        }
        times.Sort();
        var compileMs = times[2];
        if (!check.Succeeded) throw new InvalidOperationException(string.Join("\n", check.Diagnostics.Where(d => d.IsError).Take(5)));
        if (gatewayDll is not null) return await StartProcessAsync(policyPath, gatewayDll, compileMs);
        var gateway = new GatewayServer(check.Compiled!, new GatewayOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0), HostsFile = Path.Combine(folder, "hosts"),
            Limits = new GatewayLimits { MaxConnections = 100_000 },
        }, NullLoggerFactory.Instance);
        gateway.Start();
        var reloader = new PolicyReloader(gateway, policyPath, options, NullLogger.Instance);
        reloader.StartWatching();
        reloader.WarmUp(); // as `corral gateway` does at start
        await Task.Delay(500); // and the runtime's background compile of what the warm-up ran
        var admin = await AdminServer.StartAsync(gateway, reloader, new AdminOptions { Listen = new IPEndPoint(IPAddress.Loopback, 0), Token = AdminToken.FromText(Token) });
        var api = new HttpClient { BaseAddress = admin.BaseAddress };
        api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        return new World { Gateway = gateway, Reloader = reloader, Admin = admin, Api = api, PolicyPath = policyPath, CompileMs = compileMs, ProxyEndPoint = gateway.ListenEndPoint! }.Serving();
    }

    // `corral gateway` with its admin API, as an operator runs it; ready once /readyz answers, warm a moment later.
    private static async Task<World> StartProcessAsync(string policyPath, string gatewayDll, double compileMs)
    {
        var folder = Path.GetDirectoryName(policyPath)!;
        var tokenFile = Path.Combine(folder, "admin.token");
        File.WriteAllText(tokenFile, Token + "\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(tokenFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var (proxyPort, adminPort) = (FreePort(), FreePort());
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { gatewayDll, "gateway", policyPath, "--listen", $"127.0.0.1:{proxyPort}", "--admin", $"127.0.0.1:{adminPort}",
                     "--admin-token-file", tokenFile, "--hosts", Path.Combine(folder, "hosts"), "--public-standin", "127.0.0.0/8", "--max-connections", "100000",
                     "--flow-log", Path.Combine(folder, "flows.jsonl") })
            start.ArgumentList.Add(a);
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { }; // drained, so a chatty gateway never blocks on a full pipe
        process.ErrorDataReceived += (_, e) => { if (e.Data is { } line && line.Contains("fail", StringComparison.OrdinalIgnoreCase)) Console.Error.WriteLine("gateway: " + line); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var api = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{adminPort}/") };
        api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        for (var waited = Stopwatch.StartNew(); ; await Task.Delay(50))
        {
            if (process.HasExited) throw new InvalidOperationException($"corral gateway exited with {process.ExitCode} during start-up");
            if (waited.Elapsed > TimeSpan.FromSeconds(60)) { process.Kill(); throw new TimeoutException("corral gateway not ready within 60 s"); }
            try { using var ready = await api.GetAsync("/readyz"); if (ready.IsSuccessStatusCode) break; }
            catch (HttpRequestException) { }
        }
        await Task.Delay(500); // the runtime's background compile of what the gateway's warm-up ran
        return new World { GatewayProcess = process, Api = api, PolicyPath = policyPath, CompileMs = compileMs, ProxyEndPoint = new IPEndPoint(IPAddress.Loopback, proxyPort),
            FlowLogPath = Path.Combine(folder, "flows.jsonl") }.Serving();
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    private World Serving()
    {
        _upstream.Start(4096);
        _ = Task.Run(ServeUpstreamAsync);
        return this;
    }

    public Task<HttpResponseMessage> SetModeAsync(string rule, string mode) =>
        Api.PostAsync($"/api/rules/{rule}/mode", new StringContent(mode));

    /// <summary>The policy file's text with one rule's mode set (the edit an operator makes).</summary>
    public string Edited(string rule, RuleMode mode)
    {
        var (text, error) = PolicyEditor.SetRuleMode(PolicyPath, File.ReadAllText(PolicyPath), rule, mode);
        return text ?? throw new InvalidOperationException(error);
    }

    /// <summary>Makes new flows back to back until one gets <paramref name="expected"/>; returns when that answer arrived.</summary>
    public async Task<long> ProbeUntilAsync(int expected, int gapMs)
    {
        var deadline = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 120;
        while (Stopwatch.GetTimestamp() < deadline)
        {
            var started = Stopwatch.GetTimestamp();
            var status = await FlowAsync();
            // Only a flow that began after the change counts as a "new flow".
            if (status == expected && started >= Volatile.Read(ref ProbeStart)) return Stopwatch.GetTimestamp();
            if (gapMs > 0) await Task.Delay(gapMs);
        }
        throw new TimeoutException($"no flow got {expected} within 120 s");
    }

    public async Task<int> FlowAsync()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(ProxyEndPoint);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET {ProbeUrl} HTTP/1.1\r\nHost: probe.test:{UpstreamPort}\r\nConnection: close\r\n\r\n"));
        var buffer = new byte[64];
        var n = 0;
        while (n < 12)
        {
            var read = await stream.ReadAsync(buffer.AsMemory(n));
            if (read == 0) break;
            n += read;
        }
        return n >= 12 ? int.Parse(Encoding.ASCII.GetString(buffer, 9, 3)) : -1;
    }

    public HttpClient ProxyClient(bool keepAlive) => new(new SocketsHttpHandler
    {
        Proxy = new WebProxy($"http://{ProxyEndPoint}"), UseProxy = true,
        PooledConnectionLifetime = keepAlive ? Timeout.InfiniteTimeSpan : TimeSpan.Zero,
    }) { Timeout = TimeSpan.FromSeconds(30) };

    private async Task ServeUpstreamAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try { client = await _upstream.AcceptSocketAsync(_stop.Token); }
            catch (Exception) { return; }
            _ = Task.Run(async () =>
            {
                using (client)
                {
                    var buffer = new byte[8192];
                    var pending = "";
                    try
                    {
                        while (true)
                        {
                            var n = await client.ReceiveAsync(buffer, _stop.Token);
                            if (n == 0) return;
                            pending += Encoding.Latin1.GetString(buffer, 0, n);
                            int end;
                            while ((end = pending.IndexOf("\r\n\r\n", StringComparison.Ordinal)) >= 0)
                            {
                                pending = pending[(end + 4)..];
                                await client.SendAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"u8.ToArray(), _stop.Token);
                            }
                        }
                    }
                    catch (Exception) { }
                }
            });
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _upstream.Stop();
        Api.Dispose();
        if (Admin is not null) await Admin.DisposeAsync();
        if (Reloader is not null) await Reloader.DisposeAsync();
        if (Gateway is not null) await Gateway.DisposeAsync();
        if (GatewayProcess is { } process)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            process.Dispose();
        }
        try { Directory.Delete(Path.GetDirectoryName(PolicyPath)!, recursive: true); } catch (IOException) { }
    }
}

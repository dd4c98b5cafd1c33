// Replay benchmark: `dotnet run -c Release --project bench/Corral.ReplayBench -- [--records N] [--gzip] [--keep DIR]`
// 1. renders the Foundry pack in watch mode and enforcing, in a temp folder;
// 2. writes N decision records (FlowRecordJson, the gateway's writer) for agents in 10.20.1.0/24 reaching platform
//    names, tool names and ~2,000 other names, each verdict decided by the watch pack;
// 3. replays the file against the enforcing pack (FlowLogReader + Replayer: what `corral replay` runs) and suggests
//    from it (what `corral suggest` runs), printing wall time, records per second and the process's peak memory.
using System.Diagnostics;
using System.IO.Compression;
using System.Net;
using System.Text.Encodings.Web;
using System.Text.Json;
using Corral.Gateway.FlowLog;
using Corral.Policy;
using Corral.Policy.Compilation;
using Corral.Policy.Templates;
using Corral.Replay;

var records = 1_000_000;
var gzip = false;
string? keep = null;
for (var i = 0; i < args.Length; i++)
{
    if (args[i] == "--records") records = int.Parse(args[++i]);
    else if (args[i] == "--gzip") gzip = true;
    else if (args[i] == "--keep") keep = args[++i];
    else { Console.Error.WriteLine($"unknown argument {args[i]}"); return 2; }
}

var folder = keep ?? Directory.CreateTempSubdirectory("corral-replay-bench-").FullName;
Directory.CreateDirectory(Path.Combine(folder, "feeds"));
try
{
    foreach (var feed in AzureFoundryTemplate.ThreatFeedFiles) File.WriteAllText(Path.Combine(folder, feed), AzureFoundryTemplate.FeedFileText("bench"));
    var watchPath = Path.Combine(folder, "watch.yaml");
    var enforcePath = Path.Combine(folder, "enforce.yaml");
    File.WriteAllText(watchPath, AzureFoundryTemplate.Render(new AzureFoundryOptions { Watch = true }));
    File.WriteAllText(enforcePath, AzureFoundryTemplate.Render(new AzureFoundryOptions()));
    var watch = Compile(watchPath);
    var enforce = Compile(enforcePath);

    var log = Path.Combine(folder, gzip ? "flows.jsonl.gz" : "flows.jsonl");
    var write = Stopwatch.StartNew();
    WriteLog(log, watch, records, gzip);
    Console.WriteLine($"wrote {records:N0} records, {new FileInfo(log).Length / 1e6:F0} MB{(gzip ? " gzip" : "")}, in {write.Elapsed.TotalSeconds:F1} s");

    var before = Process.GetCurrentProcess().PeakWorkingSet64;
    GC.Collect();
    var replay = Stopwatch.StartNew();
    var malformed = new LineProblems();
    var report = new Replayer(enforce).Run(new FlowLogReader(malformed).Read(FlowLogFiles.Expand([log])), malformed);
    replay.Stop();
    Console.WriteLine($"replay: {report.Records:N0} records in {replay.Elapsed.TotalSeconds:F2} s ({report.Records / replay.Elapsed.TotalSeconds:N0}/s); " +
                      $"{report.ChangedCount:N0} changed, {report.PermitToDenyCount:N0} permit->deny; peak working set {Process.GetCurrentProcess().PeakWorkingSet64 / 1e6:F0} MB " +
                      $"(after writing: {before / 1e6:F0} MB)");

    var suggest = Stopwatch.StartNew();
    var suggestion = new Suggester(watch, PublicSuffixList.Load()).Run(new FlowLogReader(new LineProblems()).Read([log]), "default-deny-internet", "foundry-tool-calls", new LineProblems());
    suggest.Stop();
    Console.WriteLine($"suggest: {suggestion.RecordsRead:N0} records in {suggest.Elapsed.TotalSeconds:F2} s; {suggestion.Entries.Count} entries, {suggestion.HeldBack.Count} held back; " +
                      $"peak working set {Process.GetCurrentProcess().PeakWorkingSet64 / 1e6:F0} MB");
    return report.Records == records ? 0 : 1;
}
finally
{
    if (keep is null) Directory.Delete(folder, recursive: true);
}

static CompiledPolicy Compile(string path)
{
    var result = PolicyChecker.CheckFile(path);
    if (!result.Succeeded) throw new InvalidOperationException(string.Join("\n", result.Diagnostics));
    return result.Compiled!;
}

// Realistic traffic: mostly the runtime's platform names and the tool names, a long tail of other names (some under
// shared domains, a few encoded-looking), public addresses in 20.0.0.0/8, one flow id per record.
static void WriteLog(string path, CompiledPolicy watch, int count, bool gzip)
{
    var random = new Random(16);
    string[] platform = [.. AzureFoundryTemplate.PlatformFqdns.Where(n => !n.StartsWith('*'))];
    string[] tools = ["mcp.contoso.com", "api.github.com"];
    var others = Enumerable.Range(0, 2000).Select(i => i % 10 == 0 ? $"x{random.NextInt64():x16}{i}.tunnel.example" : $"svc{i % 40}.{(i % 7 == 0 ? "cdn" : "api")}{i / 40}.example.org").ToArray();
    using var file = File.Create(path);
    using Stream stream = gzip ? new GZipStream(file, CompressionLevel.Fastest) : file;
    using var buffered = new BufferedStream(stream, 1 << 20);
    using var json = new Utf8JsonWriter(buffered, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
    var start = DateTimeOffset.UtcNow.AddDays(-7);
    for (var i = 0; i < count; i++)
    {
        var roll = random.Next(100);
        var host = roll < 60 ? platform[random.Next(platform.Length)] : roll < 85 ? tools[random.Next(tools.Length)] : others[random.Next(others.Length)];
        var source = new IPAddress([10, 20, 1, (byte)random.Next(2, 250)]);
        IPAddress[] addresses = [new([20, (byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(1, 255)]), new([20, (byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(1, 255)])];
        var flow = new Flow { Source = source, Host = host, Destinations = addresses, Port = 443, IsTls = true };
        var verdict = watch.Decide(flow);
        FlowRecordJson.Write(json, new FlowRecord
        {
            Event = FlowEvent.Decision, Time = start.AddMilliseconds(i * 600.0), FlowId = $"f{i:x}", Listener = "explicit",
            Source = new IPEndPoint(source, 40000 + i % 20000), Destination = new IPEndPoint(addresses[verdict.AddressIndex], 443), Host = host,
            Method = "CONNECT", Url = host + ":443", Verdict = verdict, Facts = flow,
        });
        json.Flush();
        buffered.WriteByte((byte)'\n');
        json.Reset();
    }
}

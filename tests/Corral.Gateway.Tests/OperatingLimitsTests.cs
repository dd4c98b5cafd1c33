using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Corral.Gateway.Tests.Support;
using Microsoft.Extensions.Logging;
using Corral.Testing;

namespace Corral.Gateway.Tests;

/// <summary>
/// What the gateway does at its limits, each on a real <c>corral gateway</c> process or a real listener: a busy listen
/// address, a low open-file limit, the connection limit, a full disk under --flow-log-fail-closed, SIGTERM's drain
/// and SIGKILL.
/// </summary>
public sealed partial class OperatingLimitsTests
{
    private const string Connect = "CONNECT mcp.contoso.com:443 HTTP/1.1\r\nHost: mcp.contoso.com:443\r\n\r\n";

    [Fact]
    public async Task A_second_gateway_on_a_busy_listen_address_refuses_to_start_and_the_first_keeps_it()
    {
        var port = ChildProcess.FreePort();
        await using var first = GatewayProcess.Start(GatewayProcess.NewFolder(""), ["--listen", $"127.0.0.1:{port}"]);
        await first.WaitForPortAsync(port);
        await using var second = GatewayProcess.Start(GatewayProcess.NewFolder(""), ["--listen", $"127.0.0.1:{port}"]);

        Assert.Equal(1, await second.WaitForExitAsync(60));
        Assert.Contains("already in use", second.Output);
        Assert.False(first.Process.HasExited);
        // Every connection still goes to the first gateway: it answers, the same way, each time.
        for (var i = 0; i < 20; i++)
        {
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, port);
            var stream = client.GetStream();
            await stream.WriteAsync("CONNECT exfil.attacker.test:443 HTTP/1.1\r\n\r\n"u8.ToArray());
            Assert.Equal(403, (await RawHttp.ReadResponseAsync(stream)).Status);
        }
    }

    [Fact]
    public async Task Under_a_low_open_file_limit_the_gateway_lowers_its_limit_refuses_the_excess_and_keeps_its_tunnels()
    {
        Assert.SkipUnless(ProcessRunner.IsInstalled("bash"), "bash is needed to lower the child's open-file limit");
        await using var upstream = LoopbackUpstream.Start(443, "mcp.contoso.com");
        var port = ChildProcess.FreePort();
        await using var gateway = GatewayProcess.Start(GatewayProcess.NewFolder($"{upstream.EndPoint.Address} mcp.contoso.com\n"),
            ["--listen", $"127.0.0.1:{port}", "--flow-log", "flows.jsonl"], openFileLimit: 512);
        await gateway.WaitForPortAsync(port);

        // 300 tunnels hold at least 600 descriptors (client and upstream sockets, more while splicing): more than 512.
        var tunnels = new List<(TcpClient Tcp, SslStream Tls)>();
        var refusals = new List<JsonElement>();
        try
        {
            for (var i = 0; i < 300; i++)
            {
                var tcp = new TcpClient();
                await tcp.ConnectAsync(IPAddress.Loopback, port);
                var stream = tcp.GetStream();
                stream.ReadTimeout = 30_000;
                await stream.WriteAsync(Encoding.ASCII.GetBytes(Connect));
                var (status, _, body) = await RawHttp.ReadResponseAsync(stream);
                if (status == 200)
                {
                    var tls = await HandshakeAsync(stream, upstream);
                    Assert.Contains("200 OK", await GetAsync(tls, $"/open-{i}"));
                    tunnels.Add((tcp, tls));
                    continue;
                }
                Assert.True(status == 503, $"connection {i}: status {status}; gateway log:\n{Tail(gateway.Output)}");
                refusals.Add(JsonDocument.Parse(body).RootElement.Clone());
                tcp.Dispose();
            }

            Assert.False(gateway.Process.HasExited, $"the gateway died: {Tail(gateway.Output)}");
            Assert.Matches(@"room for \d+ connections", gateway.Output);
            Assert.NotEmpty(tunnels);
            Assert.NotEmpty(refusals);
            Assert.All(refusals, r => Assert.Equal("connection-limit", r.GetProperty("check").GetString()));
            // Every tunnel still carries traffic after the refusals.
            for (var i = 0; i < tunnels.Count; i++) Assert.Contains("200 OK", await GetAsync(tunnels[i].Tls, $"/again-{i}"));
            Assert.True(gateway.Lines < 200, $"{gateway.Lines} log lines for {refusals.Count} refusals:\n{Tail(gateway.Output)}");
        }
        finally
        {
            foreach (var (tcp, tls) in tunnels) { tls.Dispose(); tcp.Dispose(); }
        }

        await gateway.SignalAsync("TERM");
        Assert.Equal(0, await gateway.WaitForExitAsync());
        var records = File.ReadAllLines(Path.Combine(gateway.Folder!, "flows.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        var closes = records.Where(r => r.GetProperty("event").GetString() == "close").ToList();
        Assert.Equal(tunnels.Count, closes.Count(r => !r.TryGetProperty("reason", out _) && r.GetProperty("bytes_down").GetInt64() > 0));
        Assert.Equal(refusals.Count, closes.Count(r => r.TryGetProperty("reason", out var reason) && reason.GetString()!.StartsWith("connection-limit")));
    }

    [Theory]
    [InlineData(null, false)]    // the default: derived from the open-file limit, nothing to warn about
    [InlineData("4096", true)]   // the operator's value, more than the limit carries: lowered, with a warning
    [InlineData("20", false)]    // the operator's value, within the limit
    public async Task The_start_up_log_warns_about_the_connection_limit_only_when_the_operator_chose_one_the_open_file_limit_cannot_carry(string? chosen, bool warns)
    {
        Assert.SkipUnless(ProcessRunner.IsInstalled("bash"), "bash is needed to lower the child's open-file limit");
        var port = ChildProcess.FreePort();
        string[] args = chosen is null ? ["--listen", $"127.0.0.1:{port}"] : ["--listen", $"127.0.0.1:{port}", "--max-connections", chosen];
        await using var gateway = GatewayProcess.Start(GatewayProcess.NewFolder(""), args, openFileLimit: 512);
        await gateway.WaitForPortAsync(port);

        var room = RoomFor().Match(gateway.Output);
        Assert.True(room.Success, $"no open-file budget line:\n{Tail(gateway.Output)}");
        var warning = $"--max-connections {chosen} is more than the open-file limit carries: serving at most {room.Groups["safe"].Value} connections";
        if (warns) Assert.Contains(warning, gateway.Output);
        // No word about the connection limit (the one warning the harness's lab-only --public-standin always brings is another matter).
        else Assert.DoesNotContain("--max-connections", gateway.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Over_the_connection_limit_a_client_gets_503_with_the_refusal_body_a_flow_record_a_metric_and_few_log_lines()
    {
        await using var gw = GatewayHarness.Foundry("", limits: new GatewayLimits { MaxConnections = 2, HeadTimeout = TimeSpan.FromSeconds(60) });
        long refused = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (i, l) => { if (i.Meter == gw.Server.Meter && i.Name == "corral.gateway.connections.refused") l.EnableMeasurementEvents(i); };
        listener.SetMeasurementEventCallback<long>((_, v, tags, _) =>
        {
            foreach (var t in tags) if (t.Key == "check" && (string?)t.Value == "connection-limit") Interlocked.Add(ref refused, v);
        });
        listener.Start();

        // Two clients in the middle of a request head hold the two places.
        using var held1 = await gw.RawAsync();
        using var held2 = await gw.RawAsync();
        await held1.GetStream().WriteAsync("CONNECT mcp"u8.ToArray());
        await held2.GetStream().WriteAsync("CONNECT mcp"u8.ToArray());
        for (var i = 0; i < 200 && gw.Server.ActiveConnections < 2; i++) await Task.Delay(25);
        Assert.Equal(2, gw.Server.ActiveConnections);

        for (var i = 0; i < 30; i++)
        {
            using var client = await gw.RawAsync();
            var stream = client.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes(Connect));
            var (status, head, body) = await RawHttp.ReadResponseAsync(stream);
            Assert.Equal(503, status);
            Assert.Contains("X-Corral-Check: connection-limit", head);
            var json = JsonDocument.Parse(body).RootElement;
            Assert.Equal("connection-limit", json.GetProperty("check").GetString());
            Assert.Contains("2 connections open", json.GetProperty("reason").GetString());
        }

        Assert.Equal(30, Interlocked.Read(ref refused));
        Assert.Equal(30, gw.Server.RefusedConnections);
        var records = await gw.WaitForRecordsAsync(rs => rs.Count(IsLimitDecision) == 30);
        Assert.Equal(30, records.Count(IsLimitDecision));
        Assert.InRange(gw.Logs.Lines.Count(l => l.Level == LogLevel.Warning && l.Message.Contains("connection-limit")), 1, 2); // one line per 10 s
        static bool IsLimitDecision(JsonElement r) => r.GetProperty("event").GetString() == "decision"
            && r.GetProperty("action").GetString() == "deny" && r.GetProperty("reason").GetString()!.StartsWith("connection-limit");
    }

    [Fact]
    public async Task Over_the_connection_limit_the_transparent_listener_closes_and_still_records_and_counts_the_refusal()
    {
        await using var gw = GatewayHarness.Foundry("", transparent: true, limits: new GatewayLimits { MaxConnections = 1, HeadTimeout = TimeSpan.FromSeconds(60) });
        using var held = await gw.RawAsync();
        await held.GetStream().WriteAsync("CONNECT mcp"u8.ToArray());
        for (var i = 0; i < 200 && gw.Server.ActiveConnections < 1; i++) await Task.Delay(25);

        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, gw.Server.TransparentEndPoint!.Port);
        Assert.Empty(await RawHttp.ReadToCloseAsync(client.GetStream(), seconds: 10)); // no protocol to answer in: a close

        Assert.Equal(1, gw.Server.RefusedConnections);
        var records = await gw.WaitForRecordsAsync(rs => rs.Any(r => r.GetProperty("listener").GetString() == "transparent"));
        Assert.Contains(records, r => r.GetProperty("listener").GetString() == "transparent" && r.GetProperty("event").GetString() == "decision"
            && r.GetProperty("reason").GetString()!.StartsWith("connection-limit"));
    }

    [Fact]
    public async Task Readyz_answers_503_while_sigterm_drains_a_tunnel_and_the_admin_server_stops_after_the_drain()
    {
        await using var upstream = LoopbackUpstream.Start(443, "mcp.contoso.com");
        var (port, adminPort) = (ChildProcess.FreePort(), ChildProcess.FreePort());
        await using var gateway = GatewayProcess.Start(GatewayProcess.NewFolder($"{upstream.EndPoint.Address} mcp.contoso.com\n"),
            ["--listen", $"127.0.0.1:{port}", "--admin", $"127.0.0.1:{adminPort}", "--drain-timeout", "60"]);
        await gateway.WaitForPortAsync(port);
        await gateway.WaitForPortAsync(adminPort);
        using var admin = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{adminPort}"), Timeout = TimeSpan.FromSeconds(10) };
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/readyz")).StatusCode);

        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(Connect));
        Assert.Equal(200, (await RawHttp.ReadResponseAsync(stream)).Status);
        using var tls = await HandshakeAsync(stream, upstream);
        Assert.Contains("200 OK", await GetAsync(tls, "/before"));

        await gateway.SignalAsync("TERM");
        HttpResponseMessage? draining = null;
        for (var i = 0; i < 100 && draining is null; i++)
        {
            var answer = await admin.GetAsync("/readyz"); // throws if the admin server is gone: that is the failure
            if (answer.StatusCode == HttpStatusCode.ServiceUnavailable) draining = answer;
            else await Task.Delay(50);
        }
        Assert.NotNull(draining);
        Assert.Contains("draining", await draining.Content.ReadAsStringAsync());
        Assert.Contains("200 OK", await GetAsync(tls, "/during-drain")); // the drained tunnel still works
        tls.Close();
        tcp.Close();
        Assert.Equal(0, await gateway.WaitForExitAsync());
    }

    [Fact]
    public async Task With_fail_closed_a_full_disk_makes_readyz_degraded_refuses_new_flows_with_503_and_recovers()
    {
        await using var disk = await Tmpfs.MountAsync(1024);
        var (port, adminPort) = (ChildProcess.FreePort(), ChildProcess.FreePort());
        await using var gateway = GatewayProcess.Start(GatewayProcess.NewFolder(""),
            ["--listen", $"127.0.0.1:{port}", "--admin", $"127.0.0.1:{adminPort}", "--flow-log", Path.Combine(disk.Path, "flows.jsonl"), "--flow-log-fail-closed"]);
        await gateway.WaitForPortAsync(port);
        await gateway.WaitForPortAsync(adminPort);
        using var admin = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{adminPort}"), Timeout = TimeSpan.FromSeconds(10) };
        Assert.Equal(403, (await DeniedConnectAsync(port)).Status);

        var filler = disk.Fill();
        // The next flow's records cannot be written: readiness says so, and new flows are refused.
        string readiness = "";
        for (var i = 0; i < 200; i++)
        {
            var (answered, _, _) = await DeniedConnectAsync(port);
            var ready = await admin.GetAsync("/readyz");
            readiness = await ready.Content.ReadAsStringAsync();
            if (ready.StatusCode == HttpStatusCode.ServiceUnavailable && answered == 503) break;
            await Task.Delay(50);
        }
        Assert.Contains("degraded: the flow log cannot record", readiness);
        Assert.Contains("No space left", readiness);
        var (refusedStatus, _, body) = await DeniedConnectAsync(port);
        Assert.Equal(503, refusedStatus);
        Assert.Equal("flow-log", JsonDocument.Parse(body).RootElement.GetProperty("check").GetString());
        var status = JsonDocument.Parse(await admin.GetStringAsync("/api/status")).RootElement;
        Assert.False(status.GetProperty("flowLog").GetProperty("recording").GetBoolean());
        Assert.Matches(@"corral_gateway_flowlog_failing(\{[^}]*\})? 1", await admin.GetStringAsync("/metrics"));

        File.Delete(filler);
        for (var i = 0; i < 200 && (await admin.GetAsync("/readyz")).StatusCode != HttpStatusCode.OK; i++) await Task.Delay(50);
        Assert.Equal("ready\n", await admin.GetStringAsync("/readyz"));
        Assert.Equal(403, (await DeniedConnectAsync(port)).Status); // served (and decided) again

        await gateway.SignalAsync("TERM");
        Assert.Equal(0, await gateway.WaitForExitAsync());
        var lines = File.ReadAllLines(Path.Combine(disk.Path, "flows.jsonl"));
        foreach (var line in lines) JsonDocument.Parse(line).Dispose();
        Assert.Contains(lines, l => l.Contains("flow-log: the flow log cannot record")); // the refusals' records, written once it could
    }

    [Fact]
    public async Task After_sigkill_every_record_counted_as_written_is_on_disk_in_whole_lines_and_a_restart_appends_cleanly()
    {
        var (port, adminPort) = (ChildProcess.FreePort(), ChildProcess.FreePort());
        var folder = GatewayProcess.NewFolder("");
        string[] args = ["--listen", $"127.0.0.1:{port}", "--admin", $"127.0.0.1:{adminPort}", "--flow-log", "flows.jsonl"];
        try
        {
            long written;
            await using (var gateway = GatewayProcess.Start(folder, args, ownsFolder: false))
            {
                await gateway.WaitForPortAsync(port);
                await gateway.WaitForPortAsync(adminPort);
                using var admin = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{adminPort}"), Timeout = TimeSpan.FromSeconds(10) };
                using var stop = new CancellationTokenSource();
                var load = Task.Run(async () =>
                {
                    while (!stop.IsCancellationRequested)
                        try { await DeniedConnectAsync(port); } catch (Exception e) when (e is IOException or SocketException) { return; }
                });
                await Task.Delay(1500);
                written = WrittenRecords(await admin.GetStringAsync("/metrics"));
                await gateway.SignalAsync("KILL"); // under load: records queued, and maybe a write under way
                await gateway.Process.WaitForExitAsync();
                stop.Cancel();
                await load;
            }
            var path = Path.Combine(folder, "flows.jsonl");
            Assert.True(written > 0, "no record was counted as written under load");
            var lines = File.ReadAllLines(path);
            Assert.True(lines.Length >= written, $"{written} records counted as written, {lines.Length} lines on disk");
            Assert.True(lines.SkipLast(1).All(Parses), "only a last line cut by SIGKILL in the middle of a write may be partial");

            // A restart ends a partial last line first, so every record after it is whole.
            await using var again = GatewayProcess.Start(folder, args, ownsFolder: false);
            await again.WaitForPortAsync(port);
            Assert.Equal(403, (await DeniedConnectAsync(port)).Status);
            await again.SignalAsync("TERM");
            Assert.Equal(0, await again.WaitForExitAsync());
            var after = File.ReadAllLines(path).Skip(lines.Length).ToList();
            Assert.All(after, l => Assert.True(Parses(l), l));
            Assert.Equal(2, after.Count(l => l.Contains("exfil.attacker.test")));
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    private static bool Parses(string line)
    {
        try { JsonDocument.Parse(line).Dispose(); return true; }
        catch (JsonException) { return false; }
    }

    private static long WrittenRecords(string metrics) =>
        WrittenMetric().Match(metrics) is { Success: true } m ? long.Parse(m.Groups[1].Value) : 0;

    [GeneratedRegex(@"room for (?<safe>\d+) connections")]
    private static partial Regex RoomFor();

    [GeneratedRegex(@"^corral_gateway_flowlog_written_total(?:\{[^}]*\})? (\d+)", RegexOptions.Multiline)]
    private static partial Regex WrittenMetric();

    private static async Task<(int Status, string Head, string Body)> DeniedConnectAsync(int port)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        var stream = client.GetStream();
        await stream.WriteAsync("CONNECT exfil.attacker.test:443 HTTP/1.1\r\n\r\n"u8.ToArray());
        return await RawHttp.ReadResponseAsync(stream);
    }

    private static async Task<SslStream> HandshakeAsync(Stream stream, LoopbackUpstream upstream)
    {
        var tls = new SslStream(stream, leaveInnerStreamOpen: true, (_, c, _, _) => c?.GetCertHashString() == upstream.Certificate!.GetCertHashString());
        await tls.AuthenticateAsClientAsync("mcp.contoso.com");
        return tls;
    }

    private static async Task<string> GetAsync(SslStream tls, string path)
    {
        await tls.WriteAsync(Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: mcp.contoso.com\r\n\r\n"));
        return (await RawHttp.ReadResponseAsync(tls)).Head;
    }

    private static string Tail(string output) => output.Length <= 4000 ? output : output[^4000..];
}

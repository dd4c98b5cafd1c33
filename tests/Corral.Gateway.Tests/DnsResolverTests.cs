using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Corral.Gateway.FlowLog;
using Corral.Gateway.Hosting;
using Corral.Gateway.NameService;
using Corral.Gateway.Tests.Support;
using Corral.Policy;
using Corral.Testing;

namespace Corral.Gateway.Tests;

/// <summary>
/// The gateway's resolver over real sockets on loopback, against a logging stand-in upstream: what the policy could
/// not permit never reaches the upstream, and every query is a record.
/// </summary>
public sealed class DnsResolverTests
{
    /// <summary>Agents at 127.0.0.1 only (127.0.0.2 is outside every source group); a web group, a threat feed and an address-only permit.</summary>
    private static string Policy(string mode) => $$"""
        version: 1
        name: dns-test
        defaultAction: deny
        smartGroups:
          agents: { cidrs: [127.0.0.1/32] }
          platform: { cidrs: [198.18.0.0/24] }
        webGroups:
          web: { domains: [api.example.test, "*.allowed.test"] }
        threatGroups:
          bad: { feeds: [threats.txt] }
        rules:
          - { name: deny-threats, priority: 1, source: [agents], destination: [bad], action: deny }
          - { name: allow-web, priority: 2, source: [agents], webGroups: [web], action: permit, ports: [443] }
          - { name: allow-platform, priority: 3, source: [agents], destination: [platform], action: permit, ports: [443] }
          - { name: deny-internet, priority: 10, source: [agents], destination: [public-internet], action: deny }
        dns: { mode: {{mode}} }
        """;

    private sealed class Fixture : IAsyncDisposable
    {
        public required LoggingDnsUpstream Upstream { get; init; }
        public required GatewayServer Server { get; init; }
        public required CollectingFlowLog Log { get; init; }
        public required string Folder { get; init; }
        public IPEndPoint Dns => Server.DnsEndPoint!;

        public async ValueTask DisposeAsync()
        {
            await Server.DisposeAsync();
            await Upstream.DisposeAsync();
            Directory.Delete(Folder, recursive: true);
        }
    }

    private static Fixture Start(string mode = "enforce", double rate = 1000, string? yaml = null, string? hosts = null)
    {
        var folder = Directory.CreateTempSubdirectory("corral-dns-").FullName;
        if (hosts is not null) File.WriteAllText(Path.Combine(folder, "hosts"), hosts);
        File.WriteAllText(Path.Combine(folder, "p.yaml"), yaml ?? Policy(mode));
        File.WriteAllText(Path.Combine(folder, "threats.txt"), "evil.test\n");
        var check = PolicyChecker.CheckFile(Path.Combine(folder, "p.yaml"));
        Assert.True(check.Succeeded, string.Join("\n", check.Diagnostics));
        var upstream = new LoggingDnsUpstream(IPAddress.Parse("198.18.0.7"));
        var log = new CollectingFlowLog();
        var server = new GatewayServer(check.Compiled!, new GatewayOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            Dns = new DnsOptions { Listen = new IPEndPoint(IPAddress.Loopback, 0), Upstream = upstream.EndPoint, QueriesPerSecondPerSource = rate, Burst = rate },
            DialGuard = e => IPAddress.IsLoopback(e.Address),
            HostsFile = hosts is null ? null : Path.Combine(folder, "hosts"),
        }, new CollectingLoggerProvider(), flowLog: log);
        server.Start();
        return new Fixture { Upstream = upstream, Server = server, Log = log, Folder = folder };
    }

    [Fact]
    public async Task Every_query_is_a_span_with_its_records_flow_id_and_a_refused_one_ends_in_error()
    {
        using var spans = new SpanCollector();
        await using var f = Start("enforce", rate: 2);
        Assert.Equal(0, (await DnsProbe.UdpAsync(f.Dns, DnsProbe.Query("api.example.test")))!.ResponseCode);
        Assert.Equal(3, (await DnsProbe.UdpAsync(f.Dns, DnsProbe.Query("c2vjcmv0.evil.test")))!.ResponseCode);
        for (var i = 0; i < 4; i++) await DnsProbe.UdpAsync(f.Dns, DnsProbe.Query("x.allowed.test")); // past the 2-a-second budget

        var permitted = f.Log.Dns.First(r => r.Host == "api.example.test");
        var (span, _) = await spans.TraceAsync(permitted.FlowId);
        Assert.Equal(ActivityKind.Server, span.Kind);
        Assert.Equal("corral.dns.query", span.OperationName);
        Assert.Equal(ActivityStatusCode.Unset, span.Status);
        Assert.Equal("dns", span.GetTagItem("corral.listener"));
        Assert.Equal("udp", span.GetTagItem("network.transport"));
        Assert.Equal("api.example.test", span.GetTagItem("dns.question.name"));
        Assert.Equal("allow-web", span.GetTagItem("corral.rule"));
        Assert.Equal("permit", span.GetTagItem("corral.action"));
        Assert.Equal("NOERROR", span.GetTagItem("corral.dns.rcode"));

        var threat = f.Log.Dns.First(r => r.Host == "c2vjcmv0.evil.test");
        var (refused, _) = await spans.TraceAsync(threat.FlowId);
        Assert.Equal(ActivityStatusCode.Error, refused.Status);
        Assert.Equal("deny-threats", refused.GetTagItem("corral.rule"));
        Assert.Equal("deny", refused.GetTagItem("corral.action"));
        Assert.Equal("NXDOMAIN", refused.GetTagItem("corral.dns.rcode"));

        var limited = f.Log.Dns.First(r => r.Check == "rate-limit");
        var (checkSpan, _) = await spans.TraceAsync(limited.FlowId);
        Assert.Equal(ActivityStatusCode.Error, checkSpan.Status);
        Assert.Equal("rate-limit", checkSpan.GetTagItem("corral.check"));
        Assert.Null(checkSpan.GetTagItem("corral.rule")); // a check's refusal names no rule, as in the flow log
    }

    [Fact]
    public async Task A_permitted_name_is_resolved_and_a_threat_or_unpermitted_name_never_reaches_the_upstream()
    {
        await using var f = Start("enforce");
        var permitted = await DnsProbe.UdpAsync(f.Dns, DnsProbe.Query("api.example.test"));
        var wildcard = await DnsProbe.UdpAsync(f.Dns, DnsProbe.Query("x.allowed.test"));
        var threat = await DnsProbe.UdpAsync(f.Dns, DnsProbe.Query("c2vjcmv0.evil.test"));
        var unknown = await DnsProbe.UdpAsync(f.Dns, DnsProbe.Query("c2vjcmv0.collector.attacker.test"));

        Assert.Equal(0, permitted!.ResponseCode);
        Assert.Equal([IPAddress.Parse("198.18.0.7")], permitted.Addresses);
        Assert.Equal(0, wildcard!.ResponseCode);
        Assert.Equal(3, threat!.ResponseCode);  // NXDOMAIN
        Assert.Equal(3, unknown!.ResponseCode);
        Assert.Equal(["api.example.test", "x.allowed.test"], f.Upstream.Questions.Order().ToArray());

        var records = f.Log.Dns;
        Assert.Equal(4, records.Count);
        var threatRecord = records.Single(r => r.Host == "c2vjcmv0.evil.test");
        Assert.False(threatRecord.Dns!.Answered);
        Assert.Equal("deny-threats", threatRecord.Dns.Rule);
        Assert.Equal("NXDOMAIN", threatRecord.Dns.ResponseCode);
        Assert.Null(threatRecord.Dns.UpstreamMs);
        var unknownRecord = records.Single(r => r.Host == "c2vjcmv0.collector.attacker.test");
        Assert.True(unknownRecord.Dns!.AddressOnly); // only allow-platform (by address) could reach it: enforce refuses
        Assert.Equal("deny-internet", unknownRecord.Dns.Rule);
        Assert.Contains("allow-platform", unknownRecord.Dns.Reason);
        var permittedRecord = records.Single(r => r.Host == "api.example.test");
        Assert.True(permittedRecord.Dns!.Answered);
        Assert.Equal("allow-web", permittedRecord.Dns.Rule);
        Assert.Equal("A", permittedRecord.Dns.QueryType);
        Assert.NotNull(permittedRecord.Dns.UpstreamMs);
        Assert.Equal([IPAddress.Parse("198.18.0.7")], permittedRecord.Dns.Answers);
        Assert.Equal(IPAddress.Loopback, permittedRecord.Source.Address);
    }

    [Fact]
    public async Task The_ech_key_of_an_https_answer_is_removed_and_the_rest_of_the_record_kept()
    {
        await using var f = Start();
        var answer = await DnsProbe.UdpAsync(f.Dns, DnsProbe.Query("api.example.test", type: 65));

        Assert.NotNull(answer);
        Assert.Equal(0, answer.ResponseCode);
        var raw = answer.Raw;
        Assert.Equal(-1, raw.AsSpan().IndexOf(LoggingDnsUpstream.EchMarker));
        // mandatory now lists alpn alone; alpn and ipv6hint are kept; the record's length matches what is left.
        byte[] kept = [0, 1, 0, 0, 0, 0, 2, 0, 1, 0, 1, 0, 3, 2, (byte)'h', (byte)'2', 0, 6, 0, 16, .. IPAddress.IPv6Loopback.GetAddressBytes()];
        var at = raw.AsSpan().IndexOf(kept);
        Assert.True(at > 0, "the HTTPS record keeps its other parameters");
        Assert.Equal(kept.Length, (raw[at - 2] << 8) | raw[at - 1]);
        Assert.Equal(raw.Length, at + kept.Length);
    }

    [Fact]
    public async Task A_name_in_the_hosts_file_is_answered_from_it_and_never_asked_upstream()
    {
        await using var f = Start(hosts: "198.18.0.9 api.example.test\n");
        var a = await DnsProbe.UdpAsync(f.Dns, DnsProbe.Query("api.example.test"));
        var aaaa = await DnsProbe.UdpAsync(f.Dns, DnsProbe.Query("api.example.test", type: 28));
        var threat = await DnsProbe.UdpAsync(f.Dns, DnsProbe.Query("evil.test"));

        Assert.Equal([IPAddress.Parse("198.18.0.9")], a!.Addresses);
        Assert.Equal(0, aaaa!.ResponseCode);
        Assert.Empty(aaaa.Addresses);
        Assert.Equal(3, threat!.ResponseCode); // the policy is asked first: NXDOMAIN
        Assert.Empty(f.Upstream.Questions);
    }

    [Fact]
    public async Task A_policy_whose_rules_name_no_source_serves_every_client_as_the_proxy_listeners_do()
    {
        await using var f = Start(yaml: """
            version: 1
            name: no-sources
            defaultAction: deny
            webGroups:
              web: { domains: [api.example.test] }
            rules:
              - { name: allow-web, priority: 1, webGroups: [web], action: permit, ports: [443] }
              - { name: deny-internet, priority: 2, destination: [public-internet], action: deny }
            """);
        var permitted = await DnsProbe.UdpAsync(f.Dns, DnsProbe.Query("api.example.test"));
        var denied = await DnsProbe.UdpAsync(f.Dns, DnsProbe.Query("other.example.test"));

        Assert.Equal(0, permitted!.ResponseCode);
        Assert.Equal([f.Upstream.Answer], permitted.Addresses);
        Assert.Equal(3, denied!.ResponseCode);
        Assert.Equal(["api.example.test"], f.Upstream.Questions);
    }

    [Fact]
    public async Task Watch_mode_resolves_names_reachable_only_by_address_and_says_enforce_would_refuse_them()
    {
        await using var f = Start("watch");
        var unknown = await DnsProbe.UdpAsync(f.Dns, DnsProbe.Query("anything.example.org"));
        var threat = await DnsProbe.UdpAsync(f.Dns, DnsProbe.Query("evil.test"));
        Assert.Equal(0, unknown!.ResponseCode);
        Assert.Equal(3, threat!.ResponseCode); // a threat name stays refused in watch mode
        Assert.Equal(["anything.example.org"], f.Upstream.Questions.ToArray());
        var record = f.Log.Dns.Single(r => r.Host == "anything.example.org");
        Assert.True(record.Dns!.Answered);
        Assert.True(record.Dns.AddressOnly);
        Assert.Contains("enforce would refuse", record.Dns.Reason);
    }

    [Fact]
    public async Task Without_an_address_only_permit_a_name_no_web_group_names_is_refused_in_either_mode()
    {
        var yaml = Policy("watch").Replace("  - { name: allow-platform, priority: 3, source: [agents], destination: [platform], action: permit, ports: [443] }\n", "");
        await using var f = Start(yaml: yaml);
        var unknown = await DnsProbe.UdpAsync(f.Dns, DnsProbe.Query("anything.example.org"));
        Assert.Equal(3, unknown!.ResponseCode);
        Assert.Empty(f.Upstream.Questions);
        Assert.Equal("deny-internet", f.Log.Dns.Single().Dns!.Rule);
    }

    [Fact]
    public async Task A_source_outside_every_source_group_is_refused_and_logged_not_resolved()
    {
        await using var f = Start("watch");
        var answer = await DnsProbe.UdpAsync(f.Dns, DnsProbe.Query("api.example.test"), from: IPAddress.Parse("127.0.0.2"));
        Assert.Equal(5, answer!.ResponseCode); // REFUSED
        Assert.Empty(f.Upstream.Questions);
        var record = f.Log.Dns.Single();
        Assert.Equal("not-a-source", record.Check);
        Assert.Equal(IPAddress.Parse("127.0.0.2"), record.Source.Address);
    }

    [Fact]
    public async Task Queries_beyond_a_sources_rate_are_refused()
    {
        await using var f = Start("enforce", rate: 3);
        var codes = new List<int>();
        for (var i = 0; i < 6; i++) codes.Add((await DnsProbe.UdpAsync(f.Dns, DnsProbe.Query($"n{i}.allowed.test")))!.ResponseCode);
        // A bucket of 3 refilling at 3 a second: at least the 5th and 6th of six back-to-back queries are refused
        // unless the six took over a second; either way some are, and every refusal is a rate-limit record.
        Assert.Contains(5, codes);
        Assert.Equal(codes.Count(c => c == 5), f.Log.Dns.Count(r => r.Check == "rate-limit"));
        Assert.Equal(codes.Count(c => c == 0), f.Upstream.Questions.Count);
    }

    public static TheoryData<string, byte[]> Malformed => new()
    {
        { "truncated header", [0x12, 0x34, 0x01, 0x00, 0, 1] },
        { "truncated question", [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 5, (byte)'a', (byte)'b'] },
        { "pointer to itself", [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1] },
        { "pointer forwards", [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 14, 1, (byte)'a', 0, 0, 1, 0, 1] },
        { "dot inside a label", [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 3, (byte)'a', (byte)'.', (byte)'b', 0, 0, 1, 0, 1] },
        { "two questions", [.. DnsProbe.Query("api.example.test")[..4], 0, 2, .. DnsProbe.Query("api.example.test")[6..]] },
        { "oversize", [.. DnsProbe.Query("api.example.test"), .. new byte[5000]] },
        { "name over 255 bytes", [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, .. Enumerable.Repeat<byte[]>([63, .. Enumerable.Repeat((byte)'a', 63)], 5).SelectMany(x => x), 0, 0, 1, 0, 1] },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public async Task A_malformed_query_is_answered_formerr_recorded_and_never_forwarded(string what, byte[] query)
    {
        await using var f = Start("watch");
        var answer = await DnsProbe.UdpAsync(f.Dns, query, timeoutMs: 2000);
        if (answer is not null) Assert.Equal(1, answer.ResponseCode); // FORMERR
        var record = Assert.Single(f.Log.Dns);
        Assert.Equal("malformed", record.Check);
        Assert.Empty(f.Upstream.Questions);
        // The resolver goes on serving.
        Assert.Equal(0, (await DnsProbe.UdpAsync(f.Dns, DnsProbe.Query("api.example.test")))!.ResponseCode);
        Assert.True(answer is not null || what == "oversize" || what == "truncated header", $"{what}: no answer");
    }

    [Fact]
    public async Task Only_the_header_and_question_go_upstream_never_the_clients_additional_records()
    {
        await using var f = Start("enforce");
        // An OPT record whose option carries bytes of the client's choosing (EDNS padding, option code 12).
        byte[] payload = Encoding.ASCII.GetBytes("c2VjcmV0LWRhdGEtaW4tZWRucw");
        byte[] opt = [0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, (byte)(payload.Length + 4), 0, 12, 0, (byte)payload.Length, .. payload];
        var query = DnsProbe.Query("api.example.test");
        query[11] = 1; // ARCOUNT
        var answer = await DnsProbe.UdpAsync(f.Dns, [.. query, .. opt]);
        Assert.Equal(0, answer!.ResponseCode);
        var forwarded = Assert.Single(f.Upstream.UdpQueries);
        Assert.Equal(0, forwarded[11]);
        Assert.Equal(query.Length, forwarded.Length);
        Assert.False(forwarded.AsSpan().IndexOf(payload) >= 0);
    }

    [Fact]
    public async Task A_response_sent_to_the_resolver_is_never_answered()
    {
        await using var f = Start("watch");
        var response = DnsProbe.Query("api.example.test");
        response[2] |= 0x80;
        Assert.Null(await DnsProbe.UdpAsync(f.Dns, response, timeoutMs: 500));
        Assert.Equal("malformed", Assert.Single(f.Log.Dns).Check);
    }

    [Fact]
    public async Task Tcp_queries_are_served_and_a_truncated_udp_answer_is_asked_again_over_tcp()
    {
        await using var f = Start("enforce");
        var overTcp = await DnsProbe.TcpAsync(f.Dns, DnsProbe.Query("api.example.test"));
        Assert.Equal([IPAddress.Parse("198.18.0.7")], overTcp!.Addresses);
        var refusedOverTcp = await DnsProbe.TcpAsync(f.Dns, DnsProbe.Query("data.attacker.test"));
        Assert.Equal(3, refusedOverTcp!.ResponseCode);

        f.Upstream.TruncateOverUdp.Add("big.allowed.test");
        var fallback = await DnsProbe.UdpAsync(f.Dns, DnsProbe.Query("big.allowed.test"));
        Assert.Equal([IPAddress.Parse("198.18.0.7")], fallback!.Addresses);
        Assert.Contains("big.allowed.test", f.Upstream.TcpQuestions);
        Assert.DoesNotContain("data.attacker.test", f.Upstream.Questions);
        Assert.Equal("tcp", f.Log.Dns.First().Dns!.Transport);
    }

    [Fact]
    public async Task A_second_query_is_answered_from_the_cache_under_the_clients_id_and_spelling()
    {
        await using var f = Start("enforce");
        await DnsProbe.UdpAsync(f.Dns, DnsProbe.Query("api.example.test", id: 1));
        var again = await DnsProbe.UdpAsync(f.Dns, DnsProbe.Query("API.Example.TEST", id: 0xBEEF));
        Assert.Equal(0xBEEF, again!.Id);
        Assert.Equal("API.Example.TEST", DnsProbe.QuestionName(again.Raw, out _));
        Assert.Equal([IPAddress.Parse("198.18.0.7")], again.Addresses);
        Assert.InRange(again.FirstTtl, 1u, 300u);
        Assert.Single(f.Upstream.Questions);
        Assert.True(f.Log.Dns.Last().Dns!.Cached);
    }

    [Fact]
    public async Task The_cache_never_answers_a_name_the_policy_now_refuses()
    {
        await using var f = Start("watch");
        Assert.Equal(0, (await DnsProbe.UdpAsync(f.Dns, DnsProbe.Query("anything.example.org")))!.ResponseCode);
        var enforcing = PolicyChecker.CheckFile(WriteReplaced(f.Folder, "mode: watch", "mode: enforce"));
        f.Server.Policy.Swap(enforcing.Compiled!);
        Assert.Equal(3, (await DnsProbe.UdpAsync(f.Dns, DnsProbe.Query("anything.example.org")))!.ResponseCode);
        Assert.Single(f.Upstream.Questions);
    }

    private static string WriteReplaced(string folder, string from, string to)
    {
        var path = Path.Combine(folder, "p.yaml");
        File.WriteAllText(path, File.ReadAllText(path).Replace(from, to));
        return path;
    }

    [Fact]
    public async Task Names_that_look_like_encoded_data_are_flagged()
    {
        await using var f = Start("watch");
        var encoded = "mzxw6ytboi2gk3tjnzsxiltsmvzxk3dunfxw4y3pnz2gk3tu"; // base32, 48 characters
        await DnsProbe.UdpAsync(f.Dns, DnsProbe.Query($"{encoded}.collector.attacker.test"));
        for (var i = 0; i < TunnelSignals.UniqueThreshold + 1; i++) await DnsProbe.UdpAsync(f.Dns, DnsProbe.Query($"c{i}.spray.example"));
        var flags = f.Log.Dns.Single(r => r.Host!.StartsWith(encoded)).Dns!.Flags;
        Assert.Contains("long-label", flags);
        Assert.Contains("high-entropy", flags);
        Assert.DoesNotContain("many-subdomains", f.Log.Dns.Single(r => r.Host == "c0.spray.example").Dns!.Flags);
        Assert.Contains("many-subdomains", f.Log.Dns.Last().Dns!.Flags);
        Assert.Empty(f.Log.Dns.Single(r => r.Host == "c1.spray.example").Dns!.Flags);
    }

    [Fact]
    public async Task An_address_only_flow_is_logged_with_the_name_the_agent_resolved()
    {
        await using var f = Start("watch");
        await DnsProbe.UdpAsync(f.Dns, DnsProbe.Query("login.platform.example"));
        using var client = new TcpClient();
        await client.ConnectAsync(f.Server.ListenEndPoint!);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes("CONNECT 198.18.0.7:443 HTTP/1.1\r\nHost: 198.18.0.7:443\r\n\r\n"));
        var buffer = new byte[1024];
        _ = await stream.ReadAsync(buffer); // refused by the dial guard or answered: the decision record is written either way
        var decision = await WaitFor(() => f.Log.Records.FirstOrDefault(r => r.Event == FlowEvent.Decision));
        Assert.Equal("login.platform.example", decision!.ResolvedName);
        Assert.Null(decision.Host);
        var json = Json(decision);
        Assert.Equal("login.platform.example", json.GetProperty("dns_name").GetString());
    }

    [Fact]
    public async Task The_dns_record_is_one_json_line_with_the_verdict_fields_of_a_decision()
    {
        await using var f = Start("enforce");
        await DnsProbe.UdpAsync(f.Dns, DnsProbe.Query("api.example.test", type: 28));
        await DnsProbe.UdpAsync(f.Dns, DnsProbe.Query("evil.test"));
        var permitted = Json(f.Log.Dns[0]);
        Assert.Equal("dns", permitted.GetProperty("event").GetString());
        Assert.Equal("api.example.test", permitted.GetProperty("host").GetString());
        Assert.Equal("AAAA", permitted.GetProperty("qtype").GetString());
        Assert.Equal("permit", permitted.GetProperty("action").GetString());
        Assert.Equal("allow-web", permitted.GetProperty("rule").GetString());
        Assert.Equal(JsonValueKind.Number, permitted.GetProperty("upstream_ms").ValueKind);
        var denied = Json(f.Log.Dns[1]);
        Assert.Equal("deny", denied.GetProperty("action").GetString());
        Assert.Equal("deny-threats", denied.GetProperty("rule").GetString());
        Assert.Equal("NXDOMAIN", denied.GetProperty("rcode").GetString());
        Assert.Equal(0, denied.GetProperty("answers").GetArrayLength());
    }

    private static JsonElement Json(FlowRecord record)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer)) FlowRecordJson.Write(w, record);
        return JsonDocument.Parse(buffer.WrittenMemory).RootElement.Clone();
    }

    private static async Task<T?> WaitFor<T>(Func<T?> probe) where T : class
    {
        for (var i = 0; i < 200; i++)
        {
            if (probe() is { } found) return found;
            await Task.Delay(25);
        }
        return null;
    }
}

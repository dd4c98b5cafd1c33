using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Corral.Certificates;
using Corral.Gateway.Tests.Support;
using Corral.Testing;

namespace Corral.Gateway.Tests;

/// <summary>
/// The gateway's traces, read through the OpenTelemetry SDK's in-memory exporter over a real gateway on loopback: a
/// span per flow with the flow log's id, its decision, DNS, dial, TLS and request children, and the verdict on it.
/// </summary>
public sealed class TracingTests
{
    private const string Policy = """
        version: 1
        name: tracing-test
        defaultAction: deny
        smartGroups:
          agents: { cidrs: [127.0.0.0/8] }
        webGroups:
          api: { domains: [api.example.test] }
          tools: { domains: [tools.example.test] }
        rules:
          - { name: allow-api, priority: 1, source: [agents], webGroups: [api], action: permit, ports: [443] }
          - { name: allow-tools, priority: 2, source: [agents], webGroups: [tools], action: permit, ports: [443], decrypt: allowed }
          - { name: deny-internet, priority: 3, source: [agents], destination: [public-internet], action: deny }
        """;

    private static string Tag(Activity span, string name) => span.GetTagItem(name)?.ToString() ?? "";

    [Fact]
    public async Task A_permitted_spliced_flow_is_one_trace_with_its_decision_dns_and_dial()
    {
        using var spans = new SpanCollector();
        await using var api = LoopbackUpstream.Start(443, "api.example.test");
        await using var gw = GatewayHarness.Custom(Policy, $"{api.EndPoint.Address} api.example.test\n");
        using (var client = gw.Client(api.Certificate))
            Assert.StartsWith("hello from upstream: GET /v1/models", await client.GetStringAsync("https://api.example.test/v1/models"));

        var (decision, _) = await gw.FlowAsync(d => d.GetProperty("host").GetString() == "api.example.test");
        var id = decision.GetProperty("flow").GetString()!;
        var (flow, trace) = await spans.TraceAsync(id, t => t.Any(s => s.OperationName == "corral.dial"));

        Assert.Equal(ActivityKind.Server, flow.Kind);
        Assert.Equal(default, flow.ParentSpanId); // a flow is a trace of its own
        Assert.Equal(ActivityStatusCode.Unset, flow.Status);
        Assert.Equal("explicit", Tag(flow, "corral.listener"));
        Assert.Equal("api.example.test", Tag(flow, "server.address"));
        Assert.Equal("443", Tag(flow, "server.port"));
        Assert.Equal("tcp", Tag(flow, "network.transport"));
        Assert.Equal(decision.GetProperty("src").GetString(), $"{Tag(flow, "client.address")}:{Tag(flow, "client.port")}");
        Assert.Equal(decision.GetProperty("dst").GetString(), $"{Tag(flow, "network.peer.address")}:{Tag(flow, "network.peer.port")}");
        Assert.Equal("allow-api", Tag(flow, "corral.rule"));
        Assert.Equal("permit", Tag(flow, "corral.action"));
        Assert.Equal("True", Tag(flow, "corral.enforced"));
        Assert.Equal("False", Tag(flow, "corral.decrypted"));
        Assert.Null(flow.GetTagItem("corral.check"));
        Assert.True((long)flow.GetTagItem("corral.bytes.up")! > 0);

        var decide = Assert.Single(trace, s => s.OperationName == "corral.decide");
        Assert.Equal(flow.SpanId, decide.ParentSpanId);
        Assert.Equal("allow-api", Tag(decide, "corral.rule"));
        var dns = Assert.Single(trace, s => s.OperationName == "corral.dns");
        Assert.Equal(decide.SpanId, dns.ParentSpanId); // resolution is part of deciding
        Assert.Equal("api.example.test", Tag(dns, "dns.question.name"));
        Assert.Equal([api.EndPoint.Address.ToString()], (string[])dns.GetTagItem("dns.answers")!);
        var dial = Assert.Single(trace, s => s.OperationName == "corral.dial");
        Assert.Equal(flow.SpanId, dial.ParentSpanId);
        Assert.Equal(ActivityKind.Client, dial.Kind);
        Assert.Equal(api.EndPoint.Address.ToString(), Tag(dial, "network.peer.address"));
        Assert.Equal("443", Tag(dial, "network.peer.port"));
        Assert.Equal(ActivityStatusCode.Unset, dial.Status);
        Assert.DoesNotContain(trace, s => s.OperationName.StartsWith("corral.tls", StringComparison.Ordinal)); // spliced: no handshake of the gateway's
    }

    [Fact]
    public async Task A_flow_a_rule_denies_and_one_a_check_refuses_end_in_error_naming_the_rule_and_the_check()
    {
        using var spans = new SpanCollector();
        await using var api = LoopbackUpstream.Start(443, "api.example.test");
        await using var gw = GatewayHarness.Custom(Policy, $"127.0.0.2 exfil.attacker.test\n{api.EndPoint.Address} api.example.test\n");
        using (var tcp = await gw.RawAsync())
        {
            await tcp.GetStream().WriteAsync("CONNECT exfil.attacker.test:443 HTTP/1.1\r\n\r\n"u8.ToArray());
            Assert.Equal(403, (await RawHttp.ReadResponseAsync(tcp.GetStream())).Status);
        }
        // Plain HTTP inside a CONNECT to 443: the rule permits the name, the gateway's own check refuses the stream.
        using (var tcp = await gw.RawAsync())
        {
            var stream = tcp.GetStream();
            await stream.WriteAsync("CONNECT api.example.test:443 HTTP/1.1\r\n\r\n"u8.ToArray());
            Assert.Equal(200, (await RawHttp.ReadResponseAsync(stream)).Status);
            await stream.WriteAsync("GET / HTTP/1.1\r\nHost: api.example.test\r\n\r\n"u8.ToArray());
            Assert.Equal(403, (await RawHttp.ReadResponseAsync(stream)).Status);
        }

        var (denied, _) = await gw.FlowAsync(d => d.GetProperty("host").GetString() == "exfil.attacker.test");
        var (flow, trace) = await spans.TraceAsync(denied.GetProperty("flow").GetString()!);
        Assert.Equal(ActivityStatusCode.Error, flow.Status);
        Assert.Contains("deny-internet", flow.StatusDescription);
        Assert.Equal("deny-internet", Tag(flow, "corral.rule"));
        Assert.Equal("deny", Tag(flow, "corral.action"));
        Assert.Equal("True", Tag(flow, "corral.enforced"));
        Assert.Null(flow.GetTagItem("corral.check"));
        Assert.Equal(ActivityStatusCode.Error, Assert.Single(trace, s => s.OperationName == "corral.decide").Status);
        Assert.DoesNotContain(trace, s => s.OperationName == "corral.dial"); // nothing dialled for a denied flow

        var (refused, _) = await gw.FlowAsync(d => d.GetProperty("host").GetString() == "api.example.test");
        Assert.Equal("not-tls-on-443", refused.GetProperty("check").GetString());
        (flow, _) = await spans.TraceAsync(refused.GetProperty("flow").GetString()!);
        Assert.Equal(ActivityStatusCode.Error, flow.Status);
        Assert.Equal("not-tls-on-443", Tag(flow, "corral.check"));
        Assert.Equal("deny", Tag(flow, "corral.action"));
        Assert.Null(flow.GetTagItem("corral.rule")); // as the flow log: a check's refusal is no rule's verdict
    }

    [Fact]
    public async Task A_decrypted_flow_has_its_tls_handshakes_and_a_span_per_request_with_http_attributes()
    {
        using var spans = new SpanCollector();
        using var ca = CertificateAuthority.Create(new CaOptions());
        await using var tools = LoopbackUpstream.Start(443, "tools.example.test");
        await using var gw = GatewayHarness.Custom(Policy, $"{tools.EndPoint.Address} tools.example.test\n", interception: new GatewayInterception(ca, [tools.Certificate!]));
        using (var client = new HttpClient(new SocketsHttpHandler
        {
            Proxy = new WebProxy($"http://{gw.Proxy}"),
            UseProxy = true,
            MaxConnectionsPerServer = 1,
            SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = (_, cert, _, _) => new X509Certificate2(cert!).Issuer == ca.Certificate.Subject },
        }) { Timeout = TimeSpan.FromSeconds(30) })
        {
            Assert.StartsWith("hello from upstream: GET /first", await client.GetStringAsync("https://tools.example.test/first"));
            var second = await client.PostAsync("https://tools.example.test/second?token=s3cr3t-value&x", new StringContent("{}", Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        }

        var records = await gw.WaitForRecordsAsync(rs => rs.Count(r => r.GetProperty("event").GetString() == "request") == 2);
        var ids = records.Where(r => r.GetProperty("event").GetString() == "request").Select(r => r.GetProperty("flow").GetString()!).Distinct().ToList();
        var id = Assert.Single(ids); // one connection, one flow, two requests
        var (flow, trace) = await spans.TraceAsync(id, t => t.Count(s => s.OperationName == "HTTP" && s.DisplayName is "GET" or "POST") == 2);

        Assert.Equal("True", Tag(flow, "corral.decrypted"));
        Assert.Equal("allow-tools", Tag(flow, "corral.rule"));
        var handshake = Assert.Single(trace, s => s.OperationName == "corral.tls.client");
        Assert.Equal(flow.SpanId, handshake.ParentSpanId);
        Assert.Equal("tools.example.test", Tag(handshake, "server.address"));
        Assert.Equal("True", Tag(handshake, "tls.established"));
        Assert.Equal("tls", Tag(handshake, "tls.protocol.name"));
        Assert.Contains(Tag(handshake, "tls.protocol.version"), new[] { "1.2", "1.3" });
        Assert.StartsWith("TLS_", Tag(handshake, "tls.cipher"));

        // The span name is the method (semantic conventions); "HTTP" is the name it starts with, before the method is known.
        var get = Assert.Single(trace, s => s.DisplayName == "GET");
        var post = Assert.Single(trace, s => s.DisplayName == "POST");
        Assert.All(new[] { get, post }, r => Assert.Equal(ActivityKind.Client, r.Kind));
        Assert.All(new[] { get, post }, r => Assert.Equal(flow.SpanId, r.ParentSpanId));
        Assert.True(get.StartTimeUtc <= post.StartTimeUtc);
        Assert.Equal("GET", Tag(get, "http.request.method"));
        Assert.Equal("https://tools.example.test/first", Tag(get, "url.full"));
        Assert.Equal("/first", Tag(get, "url.path"));
        Assert.Equal("https", Tag(get, "url.scheme"));
        Assert.Equal("200", Tag(get, "http.response.status_code"));
        Assert.Equal("tools.example.test", Tag(get, "server.address"));
        Assert.Equal("allow-tools", Tag(get, "corral.rule"));
        Assert.Equal("permit", Tag(get, "corral.action"));
        Assert.Equal(ActivityStatusCode.Unset, get.Status);
        // Query values never leave in a trace: keys are kept, values redacted.
        Assert.Equal("https://tools.example.test/second?token=REDACTED&x", Tag(post, "url.full"));
        Assert.Equal("/second", Tag(post, "url.path"));
        Assert.Equal("token=REDACTED&x", Tag(post, "url.query"));
        Assert.DoesNotContain(trace, s => s.TagObjects.Any(t => t.Value?.ToString()?.Contains("s3cr3t-value") == true));

        // A CONNECT dials before it answers 200 (the flow's child); the verified TLS to the upstream is made for the first request.
        var dial = Assert.Single(trace, s => s.OperationName == "corral.dial");
        Assert.Equal(flow.SpanId, dial.ParentSpanId);
        var upstream = Assert.Single(trace, s => s.OperationName == "corral.tls.upstream");
        Assert.Equal(get.SpanId, upstream.ParentSpanId);
        Assert.Equal(tools.Certificate!.GetCertHashString(System.Security.Cryptography.HashAlgorithmName.SHA256), Tag(upstream, "tls.server.hash.sha256"));
        Assert.Equal(tools.Certificate.Subject, Tag(upstream, "tls.server.subject"));
    }

    [Fact]
    public async Task A_cleartext_http_request_through_the_explicit_proxy_is_a_request_span_of_its_flow()
    {
        using var spans = new SpanCollector();
        await using var web = LoopbackUpstream.Start(80);
        await using var gw = GatewayHarness.PlainHttp($"{web.EndPoint.Address} www.example.test\n");
        using (var client = gw.Client())
            Assert.StartsWith("hello from upstream: GET /page?", await client.GetStringAsync("http://www.example.test/page?session=abc123"));

        var (decision, _) = await gw.FlowAsync(d => d.GetProperty("host").GetString() == "www.example.test");
        var (flow, trace) = await spans.TraceAsync(decision.GetProperty("flow").GetString()!, t => t.Any(s => s.DisplayName == "GET"));
        Assert.Equal("False", Tag(flow, "corral.decrypted"));
        Assert.Equal("allow-web", Tag(flow, "corral.rule"));
        var get = Assert.Single(trace, s => s.DisplayName == "GET");
        Assert.Equal(flow.SpanId, get.ParentSpanId);
        Assert.Equal("http://www.example.test/page?session=REDACTED", Tag(get, "url.full"));
        Assert.Equal("http", Tag(get, "url.scheme"));
        Assert.Equal("80", Tag(get, "server.port"));
        Assert.Equal("200", Tag(get, "http.response.status_code"));
        Assert.DoesNotContain(trace, s => s.OperationName.StartsWith("corral.tls", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_request_the_gateway_refuses_inside_a_decrypted_flow_ends_in_error_with_its_check()
    {
        using var spans = new SpanCollector();
        using var ca = CertificateAuthority.Create(new CaOptions());
        await using var tools = LoopbackUpstream.Start(443, "tools.example.test");
        await using var gw = GatewayHarness.Custom(Policy, $"{tools.EndPoint.Address} tools.example.test\n", interception: new GatewayInterception(ca, [tools.Certificate!]));
        using (var client = new HttpClient(new SocketsHttpHandler
        {
            Proxy = new WebProxy($"http://{gw.Proxy}"),
            UseProxy = true,
            SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = (_, cert, _, _) => new X509Certificate2(cert!).Issuer == ca.Certificate.Subject },
        }) { Timeout = TimeSpan.FromSeconds(30) })
        {
            var secret = new StringContent("{\"notes\":\"-----BEGIN OPENSSH PRIVATE KEY-----\\nb3BlbnNzaC1rZXktdjEAAAAA\"}", Encoding.UTF8, "application/json");
            Assert.Equal(HttpStatusCode.Forbidden, (await client.PostAsync("https://tools.example.test/upload", secret)).StatusCode);
        }
        var records = await gw.WaitForRecordsAsync(rs => rs.Any(r => r.GetProperty("event").GetString() == "request"));
        var request = records.First(r => r.GetProperty("event").GetString() == "request");
        var (flow, trace) = await spans.TraceAsync(request.GetProperty("flow").GetString()!, t => t.Any(s => s.DisplayName == "POST"));
        var post = Assert.Single(trace, s => s.DisplayName == "POST");
        Assert.Equal(ActivityStatusCode.Error, post.Status);
        Assert.Equal(request.GetProperty("check").GetString(), Tag(post, "corral.check"));
        Assert.Equal("403", Tag(post, "http.response.status_code"));
        Assert.Equal(ActivityStatusCode.Unset, flow.Status); // the flow was permitted; its request was refused
    }
}

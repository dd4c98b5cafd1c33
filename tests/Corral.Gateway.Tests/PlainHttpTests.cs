using System.Text;
using Corral.Testing;

namespace Corral.Gateway.Tests;

/// <summary>Absolute-form HTTP through the explicit proxy: keep-alive with each request decided on its own.</summary>
public sealed class PlainHttpTests
{
    [Fact]
    public async Task HttpClient_gets_a_permitted_url_and_the_flow_log_has_method_and_url()
    {
        await using var upstream = LoopbackUpstream.Start(80);
        await using var gw = GatewayHarness.PlainHttp($"{upstream.EndPoint.Address} www.example.test\n");
        using (var client = gw.Client())
        {
            var body = await client.GetStringAsync("http://www.example.test/index.html?q=1");
            Assert.Contains("GET /index.html?q=1 HTTP/1.1", body);
        }
        var (decision, close) = await gw.FlowAsync(r => r.GetProperty("host").GetString() == "www.example.test");
        Assert.Equal("GET", decision.GetProperty("method").GetString());
        Assert.Equal("http://www.example.test/index.html?q=1", decision.GetProperty("url").GetString());
        Assert.Equal("allow-web", decision.GetProperty("rule").GetString());
        Assert.True(close.GetProperty("bytes_down").GetInt64() > 0);
    }

    [Fact]
    public async Task Each_request_on_a_kept_alive_connection_is_decided_on_its_own()
    {
        await using var upstream = LoopbackUpstream.Start(80);
        await using var gw = GatewayHarness.PlainHttp($"{upstream.EndPoint.Address} www.example.test other.example.test blocked.example.test\n");
        using var tcp = await gw.RawAsync();
        var stream = tcp.GetStream();

        await stream.WriteAsync("GET http://www.example.test/a HTTP/1.1\r\nHost: www.example.test\r\n\r\n"u8.ToArray());
        var first = await RawHttp.ReadResponseAsync(stream);
        await stream.WriteAsync("POST http://other.example.test/b HTTP/1.1\r\nHost: other.example.test\r\nContent-Length: 5\r\n\r\nhello"u8.ToArray());
        var second = await RawHttp.ReadResponseAsync(stream);
        await stream.WriteAsync("GET http://blocked.example.test/c HTTP/1.1\r\nHost: blocked.example.test\r\n\r\n"u8.ToArray());
        var third = await RawHttp.ReadResponseAsync(stream);

        Assert.Equal(200, first.Status);
        Assert.Equal(200, second.Status);
        Assert.Contains("POST /b", second.Body);
        Assert.Equal(403, third.Status);
        Assert.Contains("X-Corral-Rule: deny-internet", third.Head);
        Assert.Equal(2, upstream.Requests.Count);
        var records = await gw.WaitForRecordsAsync(rs => rs.Count(r => r.GetProperty("event").GetString() == "decision") >= 3);
        Assert.Equal(new[] { "allow-web", "allow-web", "deny-internet" },
            records.Where(r => r.GetProperty("event").GetString() == "decision").Select(r => r.GetProperty("rule").GetString()!).ToArray());
    }

    [Fact]
    public async Task Connection_and_the_headers_it_names_are_hop_by_hop_and_a_client_close_leaves_the_upstream_pooled()
    {
        // RFC 9110 7.6.1: Connection and the fields it names belong to one hop. A client that closes after its request
        // (how agents call tools) must not close the gateway's upstream connection, which the next client reuses.
        await using var upstream = LoopbackUpstream.Start(80);
        await using var gw = GatewayHarness.PlainHttp($"{upstream.EndPoint.Address} www.example.test\n");
        for (var i = 0; i < 2; i++)
        {
            using var tcp = await gw.RawAsync();
            var stream = tcp.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET http://www.example.test/{i} HTTP/1.1\r\nHost: www.example.test\r\n" +
                "Connection: close, X-Hop-Secret\r\nX-Hop-Secret: for-the-proxy-only\r\nX-End-To-End: kept\r\n\r\n"));
            var response = await RawHttp.ReadResponseAsync(stream);
            Assert.Equal(200, response.Status);
            Assert.Equal(0, await stream.ReadAsync(new byte[1])); // the gateway closes the client's hop, as asked
        }
        string[] heads;
        lock (upstream.Requests) heads = upstream.Heads.ToArray();
        Assert.Equal(2, heads.Length);
        Assert.All(heads, h =>
        {
            Assert.DoesNotContain("Connection:", h, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("X-Hop-Secret", h, StringComparison.OrdinalIgnoreCase);
            Assert.Contains("X-End-To-End: kept", h);
        });
        Assert.Equal(1, upstream.Connections);
    }

    [Fact]
    public async Task Connection_cannot_strip_the_fields_that_frame_or_route_a_request()
    {
        // Naming Content-Length, Transfer-Encoding or Host in Connection must not unframe or unroute what goes upstream.
        await using var upstream = LoopbackUpstream.Start(80);
        await using var gw = GatewayHarness.PlainHttp($"{upstream.EndPoint.Address} www.example.test\n");
        using var tcp = await gw.RawAsync();
        var stream = tcp.GetStream();
        await stream.WriteAsync("POST http://www.example.test/p HTTP/1.1\r\nHost: www.example.test\r\nConnection: Content-Length, Host, Transfer-Encoding\r\nContent-Length: 5\r\n\r\nhello"u8.ToArray());
        var response = await RawHttp.ReadResponseAsync(stream);
        Assert.Equal(200, response.Status);
        string head;
        lock (upstream.Requests) head = Assert.Single(upstream.Heads);
        Assert.Contains("Content-Length: 5", head);
        Assert.Contains("Host: www.example.test", head);
    }

    [Fact]
    public async Task Curl_offering_h2c_through_the_proxy_gets_its_answer_over_http1_and_the_offer_never_reaches_the_upstream()
    {
        Assert.SkipUnless(ProcessRunner.IsInstalled("curl"), "needs curl");
        await using var upstream = LoopbackUpstream.Start(8080);
        await using var gw = GatewayHarness.PlainHttp($"{upstream.EndPoint.Address} www.example.test\n");

        var curl = await ProcessRunner.RunAsync("curl", "-s", "-i", "--http2", "-m", "20", "-x", $"http://{gw.Proxy}", $"http://www.example.test:{upstream.Port}/h2c");

        Assert.StartsWith("HTTP/1.1 200", curl.Stdout);
        string head;
        lock (upstream.Requests) head = Assert.Single(upstream.Heads);
        Assert.StartsWith("GET /h2c HTTP/1.1", head);
        Assert.DoesNotContain("Upgrade", head, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("HTTP2-Settings", head, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task A_chunked_body_that_breaks_its_framing_after_a_chunk_went_upstream_is_refused_and_that_upstream_connection_is_never_reused()
    {
        await using var upstream = LoopbackUpstream.Start(8080);
        await using var gw = GatewayHarness.PlainHttp($"{upstream.EndPoint.Address} www.example.test\n");
        using (var tcp = await gw.RawAsync())
        {
            var stream = tcp.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"POST http://www.example.test:{upstream.Port}/upload HTTP/1.1\r\nHost: www.example.test:{upstream.Port}\r\n" +
                "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"));
            await Task.Delay(300); // the first chunk reaches the upstream
            await stream.WriteAsync("5\r\nworldXX0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: www.example.test\r\n\r\n"u8.ToArray());
            var (status, head, _) = await RawHttp.ReadResponseAsync(stream);
            Assert.Equal(400, status);
            Assert.Contains("X-Corral-Check: malformed-request", head);
        }
        using var client = gw.Client();
        Assert.Contains("GET /next", await client.GetStringAsync($"http://www.example.test:{upstream.Port}/next"));

        Assert.Equal(2, upstream.Connections);
        lock (upstream.Requests) Assert.DoesNotContain(upstream.Requests, r => r.Contains("/smuggled"));
    }

    [Fact]
    public async Task A_request_that_requires_an_upgrade_is_still_refused()
    {
        await using var upstream = LoopbackUpstream.Start(8080);
        await using var gw = GatewayHarness.PlainHttp($"{upstream.EndPoint.Address} www.example.test\n");
        using var tcp = await gw.RawAsync();
        var stream = tcp.GetStream();

        await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET http://www.example.test:{upstream.Port}/ws HTTP/1.1\r\nHost: www.example.test:{upstream.Port}\r\n" +
            "Connection: Upgrade\r\nUpgrade: h2c, websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"));
        var (status, head, _) = await RawHttp.ReadResponseAsync(stream);

        Assert.Equal(501, status);
        Assert.Contains("X-Corral-Check: upgrade", head);
        Assert.Equal(0, upstream.BytesReceived);
    }

    [Fact]
    public async Task A_host_header_that_differs_from_the_url_is_domain_fronting_and_is_denied()
    {
        await using var upstream = LoopbackUpstream.Start(80);
        await using var gw = GatewayHarness.PlainHttp($"{upstream.EndPoint.Address} www.example.test evil.example.test\n");
        using var tcp = await gw.RawAsync();
        var stream = tcp.GetStream();
        await stream.WriteAsync("GET http://www.example.test/ HTTP/1.1\r\nHost: evil.example.test\r\n\r\n"u8.ToArray());

        var (status, head, body) = await RawHttp.ReadResponseAsync(stream);

        Assert.Equal(403, status);
        Assert.Contains("X-Corral-Check: name-mismatch", head);
        Assert.Contains("domain fronting", body);
        Assert.Equal(0, upstream.Connections);
    }

    [Fact]
    public async Task A_name_that_does_not_resolve_gets_502_and_a_record()
    {
        await using var gw = GatewayHarness.PlainHttp("");
        using var tcp = await gw.RawAsync();
        var stream = tcp.GetStream();
        await stream.WriteAsync("GET http://other.example.test/ HTTP/1.1\r\nHost: other.example.test\r\n\r\n"u8.ToArray()); // permitted, so resolved; not in the hosts file

        var (status, _, _) = await RawHttp.ReadResponseAsync(stream);

        Assert.Equal(502, status);
        var (decision, _) = await gw.FlowAsync(r => r.GetProperty("host").GetString() == "other.example.test");
        Assert.Equal("deny", decision.GetProperty("action").GetString());
        Assert.Contains("did not resolve", decision.GetProperty("reason").GetString());
        Assert.Equal("unresolved", decision.GetProperty("check").GetString());
    }
}

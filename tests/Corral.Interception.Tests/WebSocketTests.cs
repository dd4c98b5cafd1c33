using System.Buffers.Binary;
using System.Net.Security;
using System.Net.WebSockets;
using System.Text;
using Corral.Interception.WebSockets;
using CsCheck;
using Corral.Policy.Inspection;

namespace Corral.Interception.Tests;

/// <summary>
/// WebSocket on decrypted flows, through real TLS to a Kestrel WebSocket echo: a rule with <c>websocket: allow</c>
/// carries it, each client message is inspected (whole, fragmented, or split across messages) and, on an MCP rule,
/// decided; a message over the rule's bound, a malformed frame or an extension is refused; without the setting the
/// upgrade is refused as before.
/// </summary>
public sealed class WebSocketTests : IAsyncLifetime
{
    private const string Key = "AKIAIOSFODNN7EXAMPLE"; // AWS's documented example key id, not a credential

    private const string Policy = """
        version: 1
        smartGroups:
          agents: { cidrs: [127.0.0.0/8] }
        webGroups:
          tools:
            domains: [mcp.contoso.com]
          github:
            domains: [api.github.com]
        rules:
          - { name: allow-mcp, priority: 1, source: [agents], webGroups: [tools], action: permit, decrypt: allowed, ports: [443], mcp: { tools: [search_docs] }, websocket: allow }
          - { name: allow-github, priority: 2, source: [agents], webGroups: [github], action: permit, decrypt: allowed, ports: [443], websocket: allow, maxBufferedBody: 64KiB }
          - { name: default-deny-internet, priority: 3, source: [agents], destination: [public-internet], action: deny }
        credentials:
          github-token: { source: { env: CORRAL_TEST_UNSET_WS_TOKEN }, destinations: [github], header: Authorization }
        """;

    private InterceptionFixture _f = null!;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _f = await InterceptionFixture.StartAsync(Policy);

    public async ValueTask DisposeAsync() => await _f.DisposeAsync();

    [Fact]
    public async Task Messages_echo_through_and_the_close_is_recorded()
    {
        using (var socket = await _f.WebSocketAsync("wss://api.github.com/ws"))
        {
            await socket.SendAsync("hello"u8.ToArray(), WebSocketMessageType.Text, true, Ct);
            Assert.Equal("hello", await ReceiveTextAsync(socket));
            var binary = new byte[40_000];
            Random.Shared.NextBytes(binary);
            await socket.SendAsync(binary, WebSocketMessageType.Binary, true, Ct);
            Assert.Equal(binary, await ReceiveAsync(socket));
            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", Ct);
            Assert.Equal(WebSocketCloseStatus.NormalClosure, socket.CloseStatus);
        }
        var closed = await CloseRecordAsync();
        var opened = _f.Records.First();
        Assert.Equal(("GET", 101, true), (opened.Method, opened.Status, opened.Forwarded));
        Assert.Null(closed.Refusal);
        Assert.Equal(new WebSocketSummary(2, 2, 40_005, 40_005, 1000, "client"), closed.WebSocket);
        Assert.Equal("", Assert.Single(_f.WebSocketExtensionsOffered));
    }

    [Fact]
    public async Task A_secret_in_a_message_closes_with_1008_and_never_reaches_the_server()
    {
        using var socket = await _f.WebSocketAsync("wss://api.github.com/ws");
        await socket.SendAsync("first"u8.ToArray(), WebSocketMessageType.Text, true, Ct);
        Assert.Equal("first", await ReceiveTextAsync(socket));
        await socket.SendAsync(Encoding.UTF8.GetBytes($"{{\"k\": \"{Key}\"}}"), WebSocketMessageType.Text, true, Ct);
        await AssertClosedAsync(socket, WebSocketCloseStatus.PolicyViolation);
        var closed = await CloseRecordAsync();
        Assert.Equal("payload-inspection: the request carries aws-access-key", closed.DeniedBy);
        Assert.Equal(("gateway", 1008, 1L), (closed.WebSocket!.ClosedBy, closed.WebSocket.CloseCode, closed.WebSocket.MessagesUp));
        await AssertServerSawOnlyAsync("first");
    }

    [Theory]
    [InlineData("fragments")]
    [InlineData("messages")]
    [InlineData("pings")]
    public async Task A_secret_split_across_frames_messages_or_pings_is_refused(string split)
    {
        var (a, b) = (Encoding.ASCII.GetBytes("key " + Key[..9]), Encoding.ASCII.GetBytes(Key[9..] + " end"));
        if (split == "pings")
        {
            // Control frames carry up to 125 bytes each: their payloads are one stream to inspection too.
            using var raw = await OpenRawAsync("api.github.com");
            await raw.WriteAsync(WebSocketFrames.Write(true, WebSocketOpcode.Ping, a, mask: true), Ct);
            await raw.WriteAsync(WebSocketFrames.Write(true, WebSocketOpcode.Ping, b, mask: true), Ct);
            Assert.Equal(1008, await ReadCloseCodeAsync(raw));
            Assert.Equal("payload-inspection: the request carries aws-access-key", (await CloseRecordAsync()).DeniedBy);
            return;
        }
        using var socket = await _f.WebSocketAsync("wss://api.github.com/ws");
        if (split == "fragments")
        {
            await socket.SendAsync(a, WebSocketMessageType.Text, false, Ct);
            await socket.SendAsync(b, WebSocketMessageType.Text, true, Ct);
            await AssertClosedAsync(socket, WebSocketCloseStatus.PolicyViolation);
            await AssertServerSawOnlyAsync();
            return;
        }
        await socket.SendAsync(a, WebSocketMessageType.Text, true, Ct);
        Assert.Equal(a, await ReceiveAsync(socket));
        await socket.SendAsync(b, WebSocketMessageType.Text, true, Ct);
        await AssertClosedAsync(socket, WebSocketCloseStatus.PolicyViolation);
        await AssertServerSawOnlyAsync(Encoding.ASCII.GetString(a));
    }

    [Theory]
    [InlineData("corral-cred-github-token")]
    [InlineData("corral\\u002dcred\\u002dgithub\\u002dtoken")] // JSON-escaped
    public async Task A_credentials_placeholder_in_a_message_is_refused_as_exfiltration_even_to_its_own_destination(string spelled)
    {
        // A message is never a credential's place: the placeholder would reach the server as itself, or be echoed back.
        using var socket = await _f.WebSocketAsync("wss://api.github.com/ws");
        await socket.SendAsync(Encoding.UTF8.GetBytes($"{{\"auth\": \"{spelled}\"}}"), WebSocketMessageType.Text, true, Ct);
        await AssertClosedAsync(socket, WebSocketCloseStatus.PolicyViolation);
        var closed = await CloseRecordAsync();
        Assert.Equal(("credential-exfiltration", "github-token"), (closed.Refusal!.Check, closed.Credential));
        await AssertServerSawOnlyAsync();
    }

    [Fact]
    public async Task A_message_over_the_rules_bound_closes_with_1009_and_never_reaches_the_server()
    {
        using var socket = await _f.WebSocketAsync("wss://api.github.com/ws");
        var big = new byte[(64 << 10) + 1];
        await socket.SendAsync(big.AsMemory(0, 40_000), WebSocketMessageType.Binary, false, Ct); // under the bound alone: held, not sent
        await socket.SendAsync(big.AsMemory(40_000), WebSocketMessageType.Binary, true, Ct);
        await AssertClosedAsync(socket, WebSocketCloseStatus.MessageTooBig);
        var closed = await CloseRecordAsync();
        Assert.Equal("websocket", closed.Refusal!.Check);
        await AssertServerSawOnlyAsync();
    }

    [Fact]
    public async Task An_unapproved_MCP_tool_over_WebSocket_is_refused_and_an_approved_one_passes()
    {
        using var socket = await _f.WebSocketAsync("wss://mcp.contoso.com/ws");
        var allowed = """{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search_docs","arguments":{"q":"x"}}}""";
        await socket.SendAsync(Encoding.UTF8.GetBytes(allowed), WebSocketMessageType.Text, true, Ct);
        Assert.Equal(allowed, await ReceiveTextAsync(socket));
        await socket.SendAsync("""{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"delete_repo"}}"""u8.ToArray(), WebSocketMessageType.Text, true, Ct);
        await AssertClosedAsync(socket, WebSocketCloseStatus.PolicyViolation);
        var closed = await CloseRecordAsync();
        Assert.Equal(("tools/call", "delete_repo", true), (closed.Mcp!.Method, closed.Mcp.Tool, closed.Mcp.Denied));
        Assert.Equal("allow-mcp", closed.Refusal!.Rule);
        await AssertServerSawOnlyAsync(allowed);
    }

    [Fact]
    public async Task On_a_rule_that_pins_tools_a_listing_in_a_server_message_is_compared_before_the_client_gets_it()
    {
        await using var pinned = await InterceptionFixture.StartAsync(Policy.Replace("mcp: { tools: [search_docs] }", "mcp: { tools: [search_docs], pinTools: true }"));
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(new Uri("wss://mcp.contoso.com/ws"), pinned.Client(), Ct);
        // The echo sends back what it gets: the client's tools/list request, then a result carrying tools (as a server's answer would).
        await socket.SendAsync("""{"jsonrpc":"2.0","id":5,"method":"tools/list"}"""u8.ToArray(), WebSocketMessageType.Text, true, Ct);
        await ReceiveAsync(socket);
        Assert.Empty(pinned.ToolListings);
        var listing = """{"jsonrpc":"2.0","id":5,"result":{"tools":[{"name":"search_docs","description":"Search the docs","inputSchema":{"type":"object"}}]}}""";
        await socket.SendAsync(Encoding.UTF8.GetBytes(listing), WebSocketMessageType.Text, true, Ct);
        Assert.Equal(listing, await ReceiveTextAsync(socket));
        var compared = Assert.Single(pinned.ToolListings);
        Assert.Equal(("search_docs", true), (Assert.Single(compared.Tools).Name, compared.Complete));
    }

    [Fact]
    public async Task A_message_that_is_not_JSON_RPC_on_an_MCP_rule_is_refused()
    {
        using var socket = await _f.WebSocketAsync("wss://mcp.contoso.com/ws");
        await socket.SendAsync("not json"u8.ToArray(), WebSocketMessageType.Text, true, Ct);
        await AssertClosedAsync(socket, WebSocketCloseStatus.PolicyViolation);
        await AssertServerSawOnlyAsync();
    }

    [Fact]
    public async Task Permessage_deflate_is_never_offered_to_the_server()
    {
        using var socket = await _f.WebSocketAsync("wss://api.github.com/ws", o => o.DangerousDeflateOptions = new WebSocketDeflateOptions());
        await socket.SendAsync("squeeze"u8.ToArray(), WebSocketMessageType.Text, true, Ct);
        Assert.Equal("squeeze", await ReceiveTextAsync(socket));
        Assert.Equal("", Assert.Single(_f.WebSocketExtensionsOffered));
    }

    [Fact]
    public async Task Without_websocket_allow_the_upgrade_is_still_refused_with_501()
    {
        await using var plain = await InterceptionFixture.StartAsync(); // its rule decrypts but has no websocket: allow
        using var socket = new ClientWebSocket();
        await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(new Uri("wss://mcp.contoso.com/ws"), plain.Client(), Ct));
        var record = Assert.Single(plain.Records);
        Assert.Equal((501, "upgrade"), (record.Status, record.Refusal!.Check));
        Assert.Empty(plain.WebSocketExtensionsOffered);
    }

    [Theory]
    [InlineData("h2c, websocket")]
    [InlineData("websocket/2")]
    public async Task An_upgrade_to_anything_but_websocket_alone_is_refused(string upgrade)
    {
        using var tls = await _f.ConnectRawAsync("api.github.com");
        await tls.WriteAsync(Encoding.ASCII.GetBytes(Handshake("api.github.com").Replace("Upgrade: websocket", "Upgrade: " + upgrade)), Ct);
        var head = await ReadHeadAsync(tls);
        Assert.True(head.StartsWith("HTTP/1.1 501") || head.StartsWith("HTTP/1.1 400"), head);
        Assert.Empty(_f.WebSocketExtensionsOffered);
    }

    public static TheoryData<string, byte[], int> MalformedFrames => new()
    {
        { "unmasked client frame", [0x81, 0x05, .. "hello"u8], 1002 },
        { "reserved opcode", [0x83, 0x80, 1, 2, 3, 4], 1002 },
        { "control frame over 125 bytes", [0x89, 0xFE, 0x00, 0x7E, 1, 2, 3, 4, .. new byte[126]], 1002 },
        { "fragmented control frame", [0x09, 0x80, 1, 2, 3, 4], 1002 },
        { "RSV1 without an extension", [0xC1, 0x85, 0, 0, 0, 0, .. "hello"u8], 1002 },
        { "RSV2", [0xA1, 0x85, 0, 0, 0, 0, .. "hello"u8], 1002 },
        { "64-bit length with the top bit", [0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0], 1002 },
        { "continuation with no message", [0x80, 0x85, 0, 0, 0, 0, .. "hello"u8], 1002 },
        { "text that is not UTF-8", [0x81, 0x82, 0, 0, 0, 0, 0xC3, 0x28], 1007 },
        { "bad close code", [0x88, 0x82, 0, 0, 0, 0, 0x03, 0xED], 1002 },
    };

    [Theory]
    [MemberData(nameof(MalformedFrames))]
    public async Task A_malformed_frame_closes_the_WebSocket_and_is_recorded(string what, byte[] frame, int code)
    {
        using var raw = await OpenRawAsync("api.github.com");
        await raw.WriteAsync(frame, Ct);
        Assert.True(await ReadCloseCodeAsync(raw) == code, what);
        var closed = await CloseRecordAsync();
        Assert.Equal("websocket", closed.Refusal!.Check);
        await AssertServerSawOnlyAsync();
    }

    [Fact]
    public async Task A_server_that_negotiates_an_extension_it_was_not_offered_is_refused()
    {
        var key = "dGhlIHNhbXBsZSBub25jZQ==";
        var head = new Http.HttpResponseHead("HTTP/1.1", 101, "Switching Protocols",
            [new("Upgrade", "websocket"), new("Connection", "Upgrade"), new("Sec-WebSocket-Accept", WebSocketHandshake.AcceptFor(key)), new("Sec-WebSocket-Extensions", "permessage-deflate")],
            Http.BodyFraming.None, 0);
        var request = new Http.HttpRequestHead("GET", "/ws", "HTTP/1.1", [], Http.BodyFraming.None, 0, "a");
        Assert.Contains("extension", WebSocketHandshake.ResponseProblem(head, request, key));
        Assert.Null(WebSocketHandshake.ResponseProblem(head with { Headers = head.Headers.Take(3).ToList() }, request, key));
        Assert.Contains("Accept", WebSocketHandshake.ResponseProblem(head with { Headers = [.. head.Headers.Take(2), new("Sec-WebSocket-Accept", "x")] }, request, key));
    }

    private static readonly byte[][] Pieces =
        [[], "hello"u8.ToArray(), "key AKIAIOSF"u8.ToArray(), "ODNN7EXAMPLE end"u8.ToArray(), Encoding.ASCII.GetBytes(Key), [0xC3, 0x28], new byte[126], [0x03, 0xE8]];

    private static readonly Gen<byte[]> GenFrame =
        Gen.Select(Gen.Int[0, 15], Gen.Bool, Gen.Int[0, 7], Gen.Int[0, 9], Gen.Int[0, Pieces.Length - 1], (opcode, fin, rsv, maskChoice, piece) =>
        {
            // Mostly well-formed (masked, known opcodes, no RSV), so sequences get past the first frame often.
            var op = opcode < 11 ? new[] { 0, 1, 2, 1, 2, 0, 9, 10, 8, 1, 0 }[opcode] : opcode;
            var frame = WebSocketFrames.Write(fin || op >= 8, (WebSocketOpcode)op, Pieces[piece], mask: maskChoice != 0);
            if (rsv >= 5) frame[0] |= (byte)((rsv - 4) << 4);
            return frame;
        });

    [Fact]
    public async Task Property_no_frame_sequence_crashes_the_relay_or_gets_a_message_upstream_uninspected()
    {
        var inspector = new PayloadInspector(_f.Compiled.Document.Inspection);
        await GenFrame.Array[1, 8].SampleAsync(async frames =>
        {
            var before = _f.Records.Count(r => r.Method == RequestStages.WebSocketCloseMethod);
            var seen = _f.WebSocketMessages.Count;
            using (var raw = await OpenRawAsync("api.github.com"))
            {
                try
                {
                    foreach (var frame in frames) await raw.WriteAsync(frame, Ct);
                    await raw.WriteAsync(WebSocketFrames.Close(1000, "bye", mask: true), Ct);
                }
                catch (IOException) { } // the gateway closed at a refused frame: what follows it is never read
                await ReadCloseCodeAsync(raw);
            }
            for (var i = 0; i < 400 && _f.Records.Count(r => r.Method == RequestStages.WebSocketCloseMethod) == before; i++) await Task.Delay(25, Ct);
            Assert.Equal(before + 1, _f.Records.Count(r => r.Method == RequestStages.WebSocketCloseMethod));
            await _f.WebSocketsEndedAsync();
            var received = _f.WebSocketMessages.Skip(seen).ToList();
            foreach (var message in received) Assert.Null(inspector.Scan(message));
            Assert.Null(inspector.Scan(received.SelectMany(m => m).ToArray())); // nor split across messages
        }, iter: 40, threads: 1);
    }

    // ---- helpers ----

    private static string Handshake(string host) =>
        $"GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

    /// <summary>A raw TLS connection with its WebSocket opened through the gateway: frames written to it are the test's own bytes.</summary>
    internal async Task<SslStream> OpenRawAsync(string host)
    {
        var tls = await _f.ConnectRawAsync(host);
        await tls.WriteAsync(Encoding.ASCII.GetBytes(Handshake(host)), Ct);
        var head = await ReadHeadAsync(tls);
        Assert.StartsWith("HTTP/1.1 101", head);
        return tls;
    }

    internal static async Task<string> ReadHeadAsync(Stream stream)
    {
        var bytes = new List<byte>();
        var one = new byte[1];
        while (!(bytes.Count >= 4 && bytes[^4] == '\r' && bytes[^3] == '\n' && bytes[^2] == '\r' && bytes[^1] == '\n'))
        {
            if (await stream.ReadAsync(one, Ct) != 1) break;
            bytes.Add(one[0]);
        }
        return Encoding.Latin1.GetString(bytes.ToArray());
    }

    /// <summary>Reads server frames until a close; its code, or -1 when the connection ended without one.</summary>
    internal static async Task<int> ReadCloseCodeAsync(Stream stream)
    {
        var buffer = new List<byte>();
        var chunk = new byte[4096];
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        while (true)
        {
            var sequence = new System.Buffers.ReadOnlySequence<byte>(buffer.ToArray());
            while (WebSocketFrames.TryRead(ref sequence, fromClient: false, long.MaxValue, out var frame))
                if (frame.Opcode == WebSocketOpcode.Close) return frame.Payload.Length >= 2 ? BinaryPrimitives.ReadUInt16BigEndian(frame.Payload) : 1005;
            int read;
            try { read = await stream.ReadAsync(chunk, timeout.Token); }
            catch (IOException) { return -1; }
            if (read == 0) return -1;
            buffer.AddRange(chunk.AsSpan(0, read));
        }
    }

    // Bounded, so that a relay that never answers fails the test instead of hanging it.
    private static CancellationToken Soon()
    {
        var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        return timeout.Token;
    }

    private static async Task<byte[]> ReceiveAsync(ClientWebSocket socket)
    {
        using var message = new MemoryStream();
        var buffer = new byte[8192];
        var soon = Soon();
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer, soon);
            message.Write(buffer, 0, result.Count);
            if (result.EndOfMessage) return message.ToArray();
        }
    }

    private static async Task<string> ReceiveTextAsync(ClientWebSocket socket) => Encoding.UTF8.GetString(await ReceiveAsync(socket));

    private static async Task AssertClosedAsync(ClientWebSocket socket, WebSocketCloseStatus status)
    {
        var buffer = new byte[1024];
        var soon = Soon();
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer, soon);
            Assert.True(result.MessageType != WebSocketMessageType.Text || !Encoding.UTF8.GetString(buffer, 0, result.Count).Contains(Key[4..]), "a secret came back through the echo");
            if (result.MessageType != WebSocketMessageType.Close) continue;
            Assert.Equal(status, result.CloseStatus);
            return;
        }
    }

    private async Task<InspectedRequest> CloseRecordAsync()
    {
        for (var i = 0; i < 400; i++)
        {
            if (_f.Records.FirstOrDefault(r => r.Method == RequestStages.WebSocketCloseMethod) is { } closed) return closed;
            await Task.Delay(25, Ct);
        }
        throw new Xunit.Sdk.XunitException("no record of the WebSocket's end");
    }

    private async Task AssertServerSawOnlyAsync(params string[] messages)
    {
        await _f.WebSocketsEndedAsync();
        Assert.Equal(messages, _f.WebSocketMessages.Select(m => Encoding.UTF8.GetString(m)));
    }
}

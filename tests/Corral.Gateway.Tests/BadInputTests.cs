using System.Net.Sockets;
using System.Text;
using Corral.Gateway.Tests.Support;
using Microsoft.Extensions.Logging;
using Corral.Testing;

namespace Corral.Gateway.Tests;

/// <summary>Bad input: each gets a deny or a close and a log line, and the gateway goes on serving the next client.</summary>
public sealed class BadInputTests
{
    private static readonly GatewayLimits Quick = new() { HeadTimeout = TimeSpan.FromSeconds(1), ClientHelloTimeout = TimeSpan.FromSeconds(1) };

    [Theory]
    [InlineData("malformed-line", "GARBAGE\r\n\r\n", 400, "malformed request")]
    [InlineData("bad-version", "GET http://www.example.test/ HTTP/9.9\r\n\r\n", 505, "unsupported version")]
    [InlineData("space-in-target", "GET http://www.example.test/a b HTTP/1.1\r\n\r\n", 400, "malformed request")]
    [InlineData("header-without-colon", "GET http://www.example.test/ HTTP/1.1\r\nNoColonHere\r\n\r\n", 400, "malformed request")]
    [InlineData("origin-form", "GET / HTTP/1.1\r\nHost: www.example.test\r\n\r\n", 400, "origin-form")]
    [InlineData("te-and-cl", "POST http://www.example.test/ HTTP/1.1\r\nHost: www.example.test\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "both Content-Length and Transfer-Encoding")]
    [InlineData("connect-without-port", "CONNECT www.example.test HTTP/1.1\r\n\r\n", 400, "no port")]
    [InlineData("connect-bad-port", "CONNECT www.example.test:99999 HTTP/1.1\r\n\r\n", 400, "bad port")]
    [InlineData("oversized-head", "OVERSIZED", 431, "larger than")]
    [InlineData("slow-head", "GET http://www.example.test/ HTTP/1.1\r\nHost: www.exa", 408, "not complete")]
    public async Task A_bad_request_head_is_refused_logged_and_the_next_client_is_served(string name, string request, int status, string logged)
    {
        await using var upstream = LoopbackUpstream.Start(80);
        await using var gw = GatewayHarness.PlainHttp($"{upstream.EndPoint.Address} www.example.test\n", Quick);
        if (request == "OVERSIZED") request = "GET http://www.example.test/ HTTP/1.1\r\nX-Big: " + new string('a', 40_000) + "\r\n\r\n";
        using (var tcp = await gw.RawAsync())
        {
            var stream = tcp.GetStream();
            try { await stream.WriteAsync(Encoding.ASCII.GetBytes(request)); }
            catch (IOException) { /* the gateway may close while an oversized head is still being sent */ }
            var (got, _, _) = await RawHttp.ReadResponseAsync(stream);
            Assert.True(got == status, $"{name}: expected {status}, got {got}");
            Assert.Empty(await RawHttp.ReadToCloseAsync(stream)); // and the connection is closed
        }
        Assert.True(gw.Logs.Contains(logged, LogLevel.Warning), $"{name}: no warning containing '{logged}'");
        Assert.Equal(0, upstream.Connections);
        await AssertStillServesAsync(gw);
    }

    [Theory]
    [InlineData("garbage-hello")]
    [InlineData("truncated-hello")]
    [InlineData("slow-hello")]
    [InlineData("not-tls-on-443")]
    public async Task A_bad_tls_start_inside_a_permitted_tunnel_is_closed_logged_and_the_next_client_is_served(string name)
    {
        await using var upstream = LoopbackUpstream.Start(443, "mcp.contoso.com");
        await using var gw = GatewayHarness.Foundry($"{upstream.EndPoint.Address} mcp.contoso.com\n", limits: Quick);
        using (var tcp = await gw.RawAsync())
        {
            var stream = tcp.GetStream();
            await stream.WriteAsync("CONNECT mcp.contoso.com:443 HTTP/1.1\r\n\r\n"u8.ToArray());
            Assert.Equal(200, (await RawHttp.ReadResponseAsync(stream)).Status);
            var hello = ClientHelloBuilder.Hello("mcp.contoso.com");
            switch (name)
            {
                case "garbage-hello": await stream.WriteAsync(new byte[] { 0x16, 0x03, 0x01, 0x00, 0x05, 0xff, 0xff, 0xff, 0xff, 0xff }); break;
                case "truncated-hello": await stream.WriteAsync(hello.AsMemory(0, 40)); tcp.Client.Shutdown(SocketShutdown.Send); break;
                case "slow-hello": await stream.WriteAsync(hello.AsMemory(0, 40)); break; // and never the rest
                default: await stream.WriteAsync("hello, plain text on 443\r\n"u8.ToArray()); break;
            }
            var rest = await RawHttp.ReadToCloseAsync(stream);
            Assert.True(rest.Length == 0 || rest[0] == 0x15, $"{name}: expected a TLS alert or nothing, got {rest.Length} bytes");
        }
        Assert.True(gw.Logs.Contains(name == "not-tls-on-443" ? "not-tls-on-443" : "ClientHello", LogLevel.Warning), $"{name}: no warning logged");
        var records = await gw.WaitForRecordsAsync(rs => rs.Any(r => r.GetProperty("event").GetString() == "close"));
        Assert.Contains(records, r => r.GetProperty("event").GetString() == "decision" && r.GetProperty("action").GetString() == "deny");
        Assert.Equal(0, upstream.BytesReceived); // a CONNECT dials before its 200; not one byte goes up before the checks

        // The next client gets through.
        using var client = gw.Client(upstream.Certificate);
        Assert.Contains("GET /next", await client.GetStringAsync("https://mcp.contoso.com/next"));
    }

    [Fact]
    public async Task The_client_hello_limit_is_one_deadline_that_a_late_first_byte_does_not_extend()
    {
        await using var upstream = LoopbackUpstream.Start(443, "mcp.contoso.com");
        await using var gw = GatewayHarness.Foundry($"{upstream.EndPoint.Address} mcp.contoso.com\n", limits: new GatewayLimits { ClientHelloTimeout = TimeSpan.FromSeconds(2) });
        using var tcp = await gw.RawAsync();
        var stream = tcp.GetStream();
        await stream.WriteAsync("CONNECT mcp.contoso.com:443 HTTP/1.1\r\n\r\n"u8.ToArray());
        Assert.Equal(200, (await RawHttp.ReadResponseAsync(stream)).Status);
        var since200 = System.Diagnostics.Stopwatch.StartNew();

        await Task.Delay(1500);
        await stream.WriteAsync(new byte[] { 0x16 }); // the first byte of a ClientHello, late, and nothing more
        await RawHttp.ReadToCloseAsync(stream, 10);

        // One 2 s deadline from the start; a limit restarted at the first byte would hold the client 3.5 s.
        Assert.True(since200.Elapsed < TimeSpan.FromSeconds(3), $"held {since200.Elapsed.TotalSeconds:0.0} s");
        Assert.Equal(0, upstream.BytesReceived);
    }

    [Fact]
    public async Task A_direct_connection_to_the_transparent_listener_has_no_original_destination_and_is_closed()
    {
        await using var gw = GatewayHarness.Foundry("", transparent: true);
        using (var tcp = new TcpClient())
        {
            await tcp.ConnectAsync(System.Net.IPAddress.Loopback, gw.Server.TransparentEndPoint!.Port);
            var stream = tcp.GetStream();
            await stream.WriteAsync(ClientHelloBuilder.Hello("mcp.contoso.com"));
            Assert.Empty(await RawHttp.ReadToCloseAsync(stream));
        }
        Assert.True(gw.Logs.Contains("no original destination", LogLevel.Warning));
    }

    private static async Task AssertStillServesAsync(GatewayHarness gw)
    {
        using var client = gw.Client();
        Assert.Contains("GET /next", await client.GetStringAsync("http://www.example.test/next"));
    }
}

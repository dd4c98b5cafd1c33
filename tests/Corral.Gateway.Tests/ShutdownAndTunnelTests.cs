using System.Diagnostics;
using System.Text;
using Corral.Testing;

namespace Corral.Gateway.Tests;

/// <summary>Graceful shutdown, and plain HTTP inside a CONNECT tunnel to an address.</summary>
public sealed class ShutdownAndTunnelTests
{
    [Fact]
    public async Task Stop_drains_a_connection_that_waits_between_requests_without_waiting_for_the_idle_timeout()
    {
        await using var upstream = LoopbackUpstream.Start(80);
        var gw = GatewayHarness.PlainHttp($"{upstream.EndPoint.Address} www.example.test\n");
        await using var _ = gw;
        using var tcp = await gw.RawAsync();
        var stream = tcp.GetStream();
        await stream.WriteAsync("GET http://www.example.test/ HTTP/1.1\r\nHost: www.example.test\r\n\r\n"u8.ToArray());
        Assert.Equal(200, (await RawHttp.ReadResponseAsync(stream)).Status);
        Assert.Equal(1, gw.Server.ActiveConnections);

        var watch = Stopwatch.StartNew();
        await gw.Server.StopAsync();

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"stop took {watch.Elapsed}"); // idle timeout is 5 min, drain 30 s
        Assert.Empty(await RawHttp.ReadToCloseAsync(stream));
        Assert.Equal(0, gw.Server.ActiveConnections);
    }

    [Fact]
    public async Task Plain_http_in_a_tunnel_to_an_address_must_name_that_address_in_host()
    {
        await using var upstream = LoopbackUpstream.Start(80);
        await using var gw = GatewayHarness.PlainHttp("");
        // allow-web permits names only; a tunnel to a bare address is denied by policy before any byte moves.
        using var tcp = await gw.RawAsync();
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"CONNECT {upstream.EndPoint.Address}:80 HTTP/1.1\r\n\r\n"));
        var (status, head, _) = await RawHttp.ReadResponseAsync(stream);
        Assert.Equal(403, status);
        Assert.Contains("X-Corral-Rule: deny-internet", head);
        Assert.Equal(0, upstream.Connections);
    }

    [Fact]
    public async Task A_client_first_protocol_that_is_not_http_is_spliced_at_once_not_after_the_head_timeout()
    {
        await using var upstream = LoopbackUpstream.Start(8080);
        await using var gw = GatewayHarness.PlainHttp($"{upstream.EndPoint.Address} www.example.test\n", new GatewayLimits { HeadTimeout = TimeSpan.FromSeconds(60) });
        using var tcp = await gw.RawAsync();
        var stream = tcp.GetStream();
        await stream.WriteAsync("CONNECT www.example.test:8080 HTTP/1.1\r\n\r\n"u8.ToArray());
        Assert.Equal(200, (await RawHttp.ReadResponseAsync(stream)).Status);

        var watch = Stopwatch.StartNew();
        await stream.WriteAsync("SSH-2.0-OpenSSH_9.2\r\n"u8.ToArray());
        while (upstream.BytesReceived < 21 && watch.Elapsed < TimeSpan.FromSeconds(30)) await Task.Delay(20);

        Assert.Equal(21, upstream.BytesReceived);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"took {watch.Elapsed}; the head timeout is 60 s");
    }

    [Theory]
    [InlineData("CONNECT")]
    [InlineData("GET")]
    public async Task A_permitted_flow_that_would_dial_the_gateway_itself_is_refused_as_a_loop(string method)
    {
        await using var gw = GatewayHarness.Custom("""
            version: 1
            name: loop-test
            defaultAction: deny
            smartGroups:
              agents: { cidrs: [127.0.0.0/8] }
              loopback: { cidrs: [127.0.0.0/8] }
            rules:
              - { name: allow-loopback, priority: 1, source: [agents], destination: [loopback], action: permit }
            """, "127.0.0.1 self.example.test\n");
        using var tcp = await gw.RawAsync();
        var stream = tcp.GetStream();
        var port = gw.Proxy.Port;
        await stream.WriteAsync(Encoding.ASCII.GetBytes(method == "CONNECT"
            ? $"CONNECT self.example.test:{port} HTTP/1.1\r\n\r\n"
            : $"GET http://self.example.test:{port}/ HTTP/1.1\r\nHost: self.example.test:{port}\r\n\r\n"));

        var (status, head, body) = await RawHttp.ReadResponseAsync(stream);

        Assert.Equal(403, status);
        Assert.Contains("X-Corral-Check: proxy-loop", head);
        Assert.Contains("proxy loop", body);
        Assert.True(gw.Logs.Contains("proxy loop", Microsoft.Extensions.Logging.LogLevel.Warning));
        Assert.True(gw.Server.ActiveConnections <= 1, $"{gw.Server.ActiveConnections} connections: the request looped");
    }

    [Fact]
    public async Task Past_the_connection_limit_a_client_gets_503_with_a_log_line_and_is_served_again_once_there_is_room()
    {
        await using var upstream = LoopbackUpstream.Start(80);
        await using var gw = GatewayHarness.PlainHttp($"{upstream.EndPoint.Address} www.example.test\n", new GatewayLimits { MaxConnections = 1 });
        using (var holder = await gw.RawAsync())
        {
            var held = holder.GetStream();
            await held.WriteAsync("GET http://www.example.test/ HTTP/1.1\r\nHost: www.example.test\r\n\r\n"u8.ToArray());
            Assert.Equal(200, (await RawHttp.ReadResponseAsync(held)).Status); // now one connection is open and kept alive

            using var extra = await gw.RawAsync();
            var (status, _, body) = await RawHttp.ReadResponseAsync(extra.GetStream());
            Assert.Equal(503, status);
            Assert.Contains("\"check\":\"connection-limit\"", body);
            Assert.Empty(await RawHttp.ReadToCloseAsync(extra.GetStream()));
            Assert.True(gw.Logs.Contains("connection-limit", Microsoft.Extensions.Logging.LogLevel.Warning));
        }
        for (var i = 0; i < 200 && gw.Server.ActiveConnections > 0; i++) await Task.Delay(50);
        using var client = gw.Client();
        Assert.Contains("GET /again", await client.GetStringAsync("http://www.example.test/again"));
    }
}

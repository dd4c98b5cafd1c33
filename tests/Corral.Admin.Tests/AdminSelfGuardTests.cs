using System.Net.Sockets;
using System.Text;
using Corral.Admin.Tests.Support;
using Corral.Testing;

namespace Corral.Admin.Tests;

/// <summary>The admin API is one of the gateway's own endpoints: no flow is ever dialled to it.</summary>
public sealed class AdminSelfGuardTests
{
    [Fact]
    public async Task A_tunnel_to_the_admin_API_is_refused_as_a_proxy_loop()
    {
        // The watched deny-internet rule lets the address through: only the loop guard stands in the way.
        await using var live = await LiveHarness.StartAsync();
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(live.Gateway.ListenEndPoint!);
        var stream = tcp.GetStream();
        var authority = live.Admin.EndPoint.ToString();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n"));
        var (status, head, _) = await RawHttp.ReadResponseAsync(stream);

        Assert.Equal(403, status);
        Assert.Contains("X-Corral-Check: proxy-loop", head);
    }
}

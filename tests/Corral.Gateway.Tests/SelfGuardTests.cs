using System.Net;
using System.Text;
using Corral.Gateway.NameService;
using Corral.Testing;

namespace Corral.Gateway.Tests;

/// <summary>
/// The proxy-loop guard covers every endpoint the gateway listens on (explicit, transparent on every interface, the
/// resolver's TCP port), so a permitted flow can never be dialled back into the gateway. The admin API's share is in
/// Corral.Admin.Tests.
/// </summary>
public sealed class SelfGuardTests
{
    // Every loopback stand-in and every 198.18.0.0/15 test address is permitted on any port: only the guard stands in the way.
    private const string Policy = """
        version: 1
        name: self-guard-test
        defaultAction: deny
        smartGroups:
          agents: { cidrs: [127.0.0.0/8] }
          standins: { cidrs: [198.18.0.0/15] }
        rules:
          - { name: allow-standins, priority: 1, source: [agents], destination: [standins], action: permit }
          - { name: allow-internet, priority: 2, source: [agents], destination: [public-internet], action: permit }
        """;

    private static GatewayHarness Gateway() => GatewayHarness.Custom(Policy, "", transparent: true,
        dns: new DnsOptions { Listen = new IPEndPoint(IPAddress.Loopback, 0), Upstream = new IPEndPoint(IPAddress.Loopback, 9) });

    private static async Task AssertLoopRefusedAsync(GatewayHarness gw, string authority)
    {
        using var tcp = await gw.RawAsync();
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n"));
        var (status, head, _) = await RawHttp.ReadResponseAsync(stream);
        Assert.True(status == 403, $"CONNECT {authority}: got {status}");
        Assert.Contains("X-Corral-Check: proxy-loop", head);
    }

    [Theory]
    [InlineData("explicit")]
    [InlineData("transparent")]
    [InlineData("dns")]
    public async Task A_tunnel_to_one_of_the_gateways_own_listeners_is_refused_as_a_proxy_loop(string listener)
    {
        await using var gw = Gateway();
        var port = listener switch
        {
            "explicit" => gw.Server.ListenEndPoint!.Port,
            "transparent" => gw.Server.TransparentEndPoint!.Port,
            _ => gw.Server.DnsEndPoint!.Port,
        };
        await AssertLoopRefusedAsync(gw, $"127.0.0.1:{port}");
    }

    [Fact]
    public async Task A_wildcard_listener_is_guarded_on_an_address_this_host_gained_after_the_gateway_started()
    {
        NetworkNamespaces.SkipUnlessRootWith("ip");
        await using var gw = Gateway();
        // A stand-in address on loopback, added after start (an interface that came up later); removed at the end.
        var address = $"198.18.{Random.Shared.Next(200, 250)}.{Random.Shared.Next(2, 250)}";
        var added = await ProcessRunner.RunAsync("ip", ["addr", "add", $"{address}/32", "dev", "lo"]);
        Assert.True(added.ExitCode == 0, added.ToString());
        try
        {
            await AssertLoopRefusedAsync(gw, $"{address}:{gw.Server.TransparentEndPoint!.Port}");
        }
        finally
        {
            await ProcessRunner.RunAsync("ip", ["addr", "del", $"{address}/32", "dev", "lo"]);
        }
    }
}

using System.Net;
using System.Net.Sockets;
using System.Text;
using Corral.Gateway.Splicing;
using Corral.Testing;

namespace Corral.Gateway.Tests;

/// <summary>A CONNECT tunnel through the whole gateway, with splice(2) and with the managed copy forced.</summary>
public sealed class SpliceThroughGatewayTests
{
    private const string Policy = """
        version: 1
        name: splice-test
        defaultAction: deny
        smartGroups:
          agents: { cidrs: [127.0.0.0/8] }
          loopback: { cidrs: [127.0.0.0/8] }
        rules:
          - { name: allow-loopback, priority: 1, source: [agents], destination: [loopback], action: permit }
        """;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task The_close_record_counts_the_bytes_each_way_and_the_half_close_gets_through(bool managed)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        const int upSize = 123_457, downSize = 300_001;
        // The upstream reads until the client's half-close arrives, then answers: only works if EOF is passed on.
        var upstream = Task.Run(async () =>
        {
            using var s = await listener.AcceptSocketAsync();
            var buffer = new byte[64 * 1024];
            long got = 0;
            while (await s.ReceiveAsync(buffer) is var n and > 0) got += n;
            var answer = new byte[downSize];
            for (var sent = 0; sent < answer.Length;) sent += await s.SendAsync(answer.AsMemory(sent));
            s.Shutdown(SocketShutdown.Send);
            return got;
        });
        await using var gw = GatewayHarness.Custom(Policy, "", new GatewayLimits { CopyMode = managed ? CopyMode.Managed : CopyMode.Auto });
        using var tcp = await gw.RawAsync();
        var stream = tcp.GetStream();
        var target = $"127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}";
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"CONNECT {target} HTTP/1.1\r\n\r\n"));
        Assert.Equal(200, (await RawHttp.ReadResponseAsync(stream)).Status);

        await stream.WriteAsync(new byte[upSize]);
        tcp.Client.Shutdown(SocketShutdown.Send);
        var down = await RawHttp.ReadToCloseAsync(stream);

        Assert.Equal(downSize, down.Length);
        Assert.Equal(upSize, await upstream.WaitAsync(TimeSpan.FromSeconds(30)));
        var (_, close) = await gw.FlowAsync(d => d.TryGetProperty("dst", out var dst) && dst.GetString() == target);
        Assert.Equal(upSize, close.GetProperty("bytes_up").GetInt64());
        Assert.Equal(downSize, close.GetProperty("bytes_down").GetInt64());
    }
}

using System.Net;
using System.Net.Sockets;
using Corral.Gateway.Proxy;

namespace Corral.Gateway.Tests;

/// <summary>
/// Streams the gateway parses or decrypts continue on thread-pool threads even when a socket completion runs on a
/// socket event thread (inline completions, set by `corral gateway`): a TLS handshake must never hold an event thread.
/// </summary>
public sealed class ResumingNetworkStreamTests
{
    [Fact]
    public async Task Work_after_resuming_off_a_dedicated_thread_runs_on_the_thread_pool()
    {
        var continuedOnPool = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        // A dedicated thread stands in for a socket event thread (neither is a pool thread).
        var thread = new Thread(() =>
        {
            async Task RunAsync()
            {
                Assert.False(Thread.CurrentThread.IsThreadPoolThread);
                await ResumingNetworkStream.ToPool();
                continuedOnPool.TrySetResult(Thread.CurrentThread.IsThreadPoolThread);
            }
            _ = RunAsync();
        });
        thread.Start();
        Assert.True(await continuedOnPool.Task.WaitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task On_a_pool_thread_resuming_costs_no_hop()
    {
        var (sameThread, onPool) = await Task.Run(() =>
        {
            var awaiter = ResumingNetworkStream.ToPool();
            return (awaiter.IsCompleted, Thread.CurrentThread.IsThreadPoolThread);
        });
        Assert.True(onPool);
        Assert.True(sameThread);
    }

    [Fact]
    public async Task Reads_and_writes_pass_the_bytes_through_unchanged()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(listener.LocalEndPoint!);
        using var server = await listener.AcceptAsync();
        await using var a = new ResumingNetworkStream(client, ownsSocket: false);
        await using var b = new ResumingNetworkStream(server, ownsSocket: false);

        var buffer = new byte[16];
        var pending = b.ReadAsync(buffer.AsMemory()); // nothing sent yet: completes later, through the resume path
        await a.WriteAsync("hello"u8.ToArray());
        Assert.Equal(5, await pending);
        Assert.Equal("hello"u8.ToArray(), buffer[..5]);

#pragma warning disable CA1835 // the array overloads are part of the stream under test
        await b.WriteAsync("bye"u8.ToArray(), 0, 3);
        Assert.Equal(3, await a.ReadAsync(buffer, 0, 16));
#pragma warning restore CA1835
        Assert.Equal("bye"u8.ToArray(), buffer[..3]);
    }
}

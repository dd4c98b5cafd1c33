using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Corral.Gateway.Splicing;

namespace Corral.Gateway.Tests;

/// <summary>
/// The tunnel's byte mover on real loopback sockets, for both ways it can move bytes: splice(2) through kernel pipes
/// (Auto, on Linux) and the managed copy (the fallback). Client ⇄ [gateway client side | splicer | gateway upstream side] ⇄ upstream.
/// </summary>
public sealed class SplicerTests
{
    /// <summary>false: splice(2) where supported (Auto); true: the managed copy forced.</summary>
    public static TheoryData<bool> Modes => [false, true];

    [Fact]
    public void Auto_uses_splice_on_linux()
    {
        using var engine = new SpliceEngine(TimeSpan.FromMinutes(1));
        Assert.Equal(OperatingSystem.IsLinux(), engine.UseSplice);
        using var managed = new SpliceEngine(TimeSpan.FromMinutes(1), CopyMode.Managed);
        Assert.False(managed.UseSplice);
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public async Task Large_transfers_both_ways_at_once_arrive_intact_and_are_counted(bool managed)
    {
        await using var t = await Chain.OpenAsync(managed, peek: "PEEKED"u8.ToArray());
        const int size = 64 * 1024 * 1024;
        var up = Random(size, 1);
        var down = Random(size, 2);
        var run = t.RunAsync();

        var clientSends = SendAndCloseAsync(t.Client, up);
        var upstreamSends = SendAndCloseAsync(t.Upstream, down);
        var upstreamGot = ReadToEndAsync(t.Upstream);
        var clientGot = ReadToEndAsync(t.Client);
        await Task.WhenAll(clientSends, upstreamSends).WaitAsync(TimeSpan.FromSeconds(120));
        var result = await run.WaitAsync(TimeSpan.FromSeconds(120));

        Assert.Equal(SHA256.HashData([.. "PEEKED"u8, .. up]), SHA256.HashData(await upstreamGot));
        Assert.Equal(SHA256.HashData(down), SHA256.HashData(await clientGot));
        Assert.Equal(size + 6, result.BytesUp);
        Assert.Equal(size, result.BytesDown);
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public async Task A_slow_reader_whose_send_buffer_fills_still_gets_every_byte_in_order(bool managed)
    {
        await using var t = await Chain.OpenAsync(managed);
        // A small send buffer towards the upstream and a reader taking 1 KiB at a time: the gateway's splice meets a
        // full send buffer over and over and must wait for room without losing or reordering a byte. (A small receive
        // buffer too would make loopback TCP crawl on its timers, for nothing more.)
        t.GatewayUpstream.SendBufferSize = 8 * 1024;
        var up = Random(8 * 1024 * 1024, 3);
        var run = t.RunAsync();
        var sends = SendAndCloseAsync(t.Client, up);
        using var got = new MemoryStream();
        var small = new byte[1024];
        while (await t.Upstream.ReceiveAsync(small.AsMemory()).AsTask().WaitAsync(TimeSpan.FromSeconds(60)) is var n and > 0) got.Write(small, 0, n);
        await sends.WaitAsync(TimeSpan.FromSeconds(60));
        t.Upstream.Shutdown(SocketShutdown.Send);
        var result = await run.WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(SHA256.HashData(up), SHA256.HashData(got.ToArray()));
        Assert.Equal(up.Length, result.BytesUp);
        if (t.Engine.UseSplice) Assert.True(t.Engine.Writable.WaitCount > 0, "the splice never met a full send buffer: the test did not exercise the wait");
    }

    [Fact]
    public async Task The_writable_waiter_returns_once_a_full_socket_has_room_and_ends_on_cancellation_or_disposal()
    {
        if (!LinuxSplice.IsSupported) return;
        var (writer, reader) = await Chain.PairAsync();
        using (writer)
        using (reader)
        {
            writer.SendBufferSize = 4096;
            reader.ReceiveBufferSize = 4096;
            writer.Blocking = false;
            var chunk = new byte[4096];
            long filled = 0;
            while (writer.Send(chunk, 0, chunk.Length, SocketFlags.None, out var error) is var n && error == SocketError.Success) filled += n;
            var fd = (int)writer.SafeHandle.DangerousGetHandle();

            using var waiter = new WritableWaiter();
            // Full: a cancelled wait ends with cancellation, not as if the socket had room.
            using (var cancel = new CancellationTokenSource())
            {
                var cancelled = waiter.WaitAsync(fd, cancel.Token).AsTask();
                await cancel.CancelAsync();
                await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled.WaitAsync(TimeSpan.FromSeconds(30)));
            }
            // Full until the reader takes everything: then the wait returns and a send succeeds.
            var wait = waiter.WaitAsync(fd, CancellationToken.None).AsTask();
            var buffer = new byte[64 * 1024];
            for (long read = 0; read < filled;) read += await reader.ReceiveAsync(buffer.AsMemory()).AsTask().WaitAsync(TimeSpan.FromSeconds(30));
            await wait.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.True(writer.Send(chunk, 0, chunk.Length, SocketFlags.None, out var sendError) > 0, $"no room after the wait: {sendError}");
            Assert.Equal(2, waiter.WaitCount);

            // Full again, then the waiter is disposed (the gateway stops): the pending wait ends.
            while (writer.Send(chunk, 0, chunk.Length, SocketFlags.None, out var error) > 0 && error == SocketError.Success) { }
            var pending = waiter.WaitAsync(fd, CancellationToken.None).AsTask();
            waiter.Dispose();
            await Assert.ThrowsAsync<ObjectDisposedException>(() => pending.WaitAsync(TimeSpan.FromSeconds(30)));
            await Assert.ThrowsAsync<ObjectDisposedException>(() => waiter.WaitAsync(fd, CancellationToken.None).AsTask());
        }
    }

    [Fact]
    public void Pipes_are_enlarged_only_within_the_budget_and_give_it_back_when_closed()
    {
        if (!LinuxSplice.IsSupported) return;
        const int size = 256 * 1024; // within fs/pipe-max-size's default (1 MiB)
        using var pool = new KernelPipePool(size, maxPooled: 1, enlargedBudget: 2 * size);
        var a = pool.Rent();
        var b = pool.Rent();
        var c = pool.Rent(); // over the budget: the kernel's default size
        Assert.Equal((size, size), (a.Capacity, b.Capacity));
        Assert.True(c.Capacity < size, $"capacity {c.Capacity}");
        Assert.Equal((size, size, 0), (a.Charged, b.Charged, c.Charged));
        Assert.Equal(2 * size, pool.EnlargedBytes);

        pool.Discard(a); // closed (it might have held bytes): its share comes back
        pool.Return(c); // pooled
        pool.Return(b); // the pool is full: closed, its share comes back
        Assert.Equal(0, pool.EnlargedBytes);
        Assert.Same(c, pool.Rent()); // the pooled one first
        var d = pool.Rent();
        Assert.Equal(size, d.Capacity);
        pool.Discard(c);
        pool.Discard(d);
        Assert.Equal(0, pool.EnlargedBytes);
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public async Task Peeked_bytes_go_before_bytes_still_in_the_socket(bool managed)
    {
        await using var t = await Chain.OpenAsync(managed, peek: "HELLO-"u8.ToArray());
        await t.Client.SendAsync("WORLD"u8.ToArray()); // in the socket, behind the peeked bytes
        var run = t.RunAsync();
        t.Client.Shutdown(SocketShutdown.Send);
        Assert.Equal("HELLO-WORLD", Encoding.ASCII.GetString(await ReadToEndAsync(t.Upstream)));
        t.Upstream.Shutdown(SocketShutdown.Send);
        Assert.Equal(11, (await run.WaitAsync(TimeSpan.FromSeconds(30))).BytesUp);
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public async Task A_client_half_close_reaches_the_upstream_which_can_still_answer(bool managed)
    {
        await using var t = await Chain.OpenAsync(managed);
        var run = t.RunAsync();
        await t.Client.SendAsync("request"u8.ToArray());
        t.Client.Shutdown(SocketShutdown.Send);
        Assert.Equal("request", Encoding.ASCII.GetString(await ReadToEndAsync(t.Upstream))); // EOF passed on
        Assert.False(run.IsCompleted);
        await SendAndCloseAsync(t.Upstream, "answer after the half-close"u8.ToArray());
        Assert.Equal("answer after the half-close", Encoding.ASCII.GetString(await ReadToEndAsync(t.Client)));
        var result = await run.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal((7, 27), (result.BytesUp, result.BytesDown));
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public async Task An_upstream_half_close_reaches_the_client_which_can_still_send(bool managed)
    {
        await using var t = await Chain.OpenAsync(managed);
        var run = t.RunAsync();
        await SendAndCloseAsync(t.Upstream, "banner"u8.ToArray());
        Assert.Equal("banner", Encoding.ASCII.GetString(await ReadToEndAsync(t.Client)));
        Assert.False(run.IsCompleted);
        await SendAndCloseAsync(t.Client, "late upload"u8.ToArray());
        Assert.Equal("late upload", Encoding.ASCII.GetString(await ReadToEndAsync(t.Upstream)));
        var result = await run.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal((11, 6), (result.BytesUp, result.BytesDown));
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public async Task An_idle_tunnel_is_cut_after_the_idle_timeout_but_a_busy_one_is_not(bool managed)
    {
        // Generous numbers: the machine may be loaded, and a busy tunnel must never look idle here.
        await using var t = await Chain.OpenAsync(managed, idle: TimeSpan.FromSeconds(3));
        var run = t.RunAsync();
        // Busy for longer than the idle timeout: one byte every 100 ms keeps it open.
        var one = new byte[1];
        for (var i = 0; i < 40; i++)
        {
            await t.Client.SendAsync(one);
            Assert.Equal(1, await t.Upstream.ReceiveAsync(new byte[1].AsMemory()).AsTask().WaitAsync(TimeSpan.FromSeconds(30)));
            await Task.Delay(100);
        }
        Assert.False(run.IsCompleted, "a busy tunnel was cut");
        // Then idle: the splicer ends by itself.
        var result = await run.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(40, result.BytesUp);
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public async Task An_upstream_reset_in_the_middle_of_a_transfer_ends_both_ways(bool managed)
    {
        await using var t = await Chain.OpenAsync(managed);
        var run = t.RunAsync();
        await t.Upstream.SendAsync(new byte[256 * 1024]);
        var got = new byte[1024];
        Assert.True(await t.Client.ReceiveAsync(got.AsMemory()).AsTask().WaitAsync(TimeSpan.FromSeconds(30)) > 0);
        t.Upstream.LingerState = new LingerOption(true, 0);
        t.Upstream.Close(); // RST, while the client still reads and could send
        await run.WaitAsync(TimeSpan.FromSeconds(30));
        await t.DisposeGatewaySideAsync(); // as Tunnel does once the splice ends
        // The client sees its connection end: the rest of what was sent, then end of stream or a reset.
        await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            while (await t.Client.ReceiveAsync(got) > 0) { }
            throw new IOException("ended");
        }).WaitAsync(TimeSpan.FromSeconds(30));
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public async Task Cancellation_from_the_gateway_cuts_the_tunnel(bool managed)
    {
        using var stop = new CancellationTokenSource();
        await using var t = await Chain.OpenAsync(managed);
        var run = t.RunAsync(stop.Token);
        await Task.Delay(100);
        Assert.False(run.IsCompleted);
        await stop.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public void The_idle_sweeper_forgets_ended_tunnels()
    {
        using var sweeper = new IdleSweeper(TimeSpan.FromMilliseconds(20));
        var a = sweeper.Watch(TimeSpan.FromSeconds(10), CancellationToken.None);
        var b = sweeper.Watch(TimeSpan.FromMilliseconds(1), CancellationToken.None);
        a.Dispose();
        Assert.True(SpinWait.SpinUntil(() => b.Token.IsCancellationRequested, TimeSpan.FromSeconds(10)));
        b.Dispose();
        b.Dispose(); // twice is harmless
    }

    private static byte[] Random(int size, int seed)
    {
        var bytes = new byte[size];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static async Task SendAndCloseAsync(Socket socket, byte[] bytes)
    {
        for (var sent = 0; sent < bytes.Length;) sent += await socket.SendAsync(bytes.AsMemory(sent, Math.Min(1 << 20, bytes.Length - sent)));
        socket.Shutdown(SocketShutdown.Send);
    }

    private static async Task<byte[]> ReadToEndAsync(Socket socket)
    {
        using var all = new MemoryStream();
        var buffer = new byte[128 * 1024];
        while (await socket.ReceiveAsync(buffer.AsMemory()).AsTask().WaitAsync(TimeSpan.FromSeconds(60)) is var n and > 0) all.Write(buffer, 0, n);
        return all.ToArray();
    }

    /// <summary>Four connected loopback sockets and the splicer's engine; peeked bytes sit in the client-side pipe.</summary>
    private sealed class Chain : IAsyncDisposable
    {
        private readonly SpliceEngine _engine;
        private readonly TimeSpan _idle;
        private readonly NetworkStream _gatewayClientStream;

        private Chain(SpliceEngine engine, TimeSpan idle, Socket client, Socket gatewayClient, Socket gatewayUpstream, Socket upstream)
        {
            _engine = engine;
            _idle = idle;
            Client = client;
            GatewayClient = gatewayClient;
            GatewayUpstream = gatewayUpstream;
            Upstream = upstream;
            _gatewayClientStream = new NetworkStream(gatewayClient, ownsSocket: false);
            Reader = PipeReader.Create(_gatewayClientStream, new StreamPipeReaderOptions(bufferSize: 16 * 1024, leaveOpen: true));
        }

        public SpliceEngine Engine => _engine;
        public Socket Client { get; }
        public Socket GatewayClient { get; }
        public Socket GatewayUpstream { get; }
        public Socket Upstream { get; }
        public PipeReader Reader { get; }

        public static async Task<Chain> OpenAsync(bool managed, byte[]? peek = null, TimeSpan? idle = null)
        {
            var (client, gatewayClient) = await PairAsync();
            var (gatewayUpstream, upstream) = await PairAsync();
            var chain = new Chain(new SpliceEngine(idle ?? TimeSpan.FromMinutes(5), managed ? CopyMode.Managed : CopyMode.Auto), idle ?? TimeSpan.FromMinutes(5), client, gatewayClient, gatewayUpstream, upstream);
            if (peek is not null)
            {
                // As the gateway's sniffer does: read until the prefix is buffered, consume nothing.
                await client.SendAsync(peek);
                while (true)
                {
                    var r = await chain.Reader.ReadAsync();
                    if (r.Buffer.Length >= peek.Length)
                    {
                        chain.Reader.AdvanceTo(r.Buffer.Start);
                        break;
                    }
                    chain.Reader.AdvanceTo(r.Buffer.Start, r.Buffer.End);
                }
            }
            return chain;
        }

        public static async Task<(Socket Connecting, Socket Accepted)> PairAsync()
        {
            using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            listener.Listen(1);
            var connecting = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            var accept = listener.AcceptAsync();
            await connecting.ConnectAsync(listener.LocalEndPoint!);
            var accepted = await accept;
            accepted.NoDelay = true;
            return (connecting, accepted);
        }

        public Task<SpliceResult> RunAsync(CancellationToken ct = default) =>
            Splicer.RunAsync(_engine, GatewayClient, Reader, GatewayUpstream, null, _idle, ct);

        public async Task DisposeGatewaySideAsync()
        {
            await Reader.CompleteAsync();
            await _gatewayClientStream.DisposeAsync();
            try { GatewayClient.Shutdown(SocketShutdown.Both); } catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
            GatewayClient.Dispose();
            GatewayUpstream.Dispose();
        }

        public async ValueTask DisposeAsync()
        {
            await DisposeGatewaySideAsync();
            Client.Dispose();
            Upstream.Dispose();
            _engine.Dispose();
        }
    }
}

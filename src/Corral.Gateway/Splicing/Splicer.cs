using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;

namespace Corral.Gateway.Splicing;

/// <summary>Bytes moved by a splice, each way.</summary>
public readonly record struct SpliceResult(long BytesUp, long BytesDown);

/// <summary>
/// Moves bytes both ways between a client and an upstream until both sides have finished, without looking at them.
/// On Linux the bytes go socket → kernel pipe → socket with splice(2) and never enter user space; elsewhere (or when
/// forced) a managed copy through pooled buffers does the same. Either way a direction waits for data with a
/// zero-byte receive and holds no buffer or pipe while idle. Backpressure comes from finishing each write before the
/// next read (a full destination is waited for with the engine's writable waiter, so no byte leaves the kernel); an end of stream on one side is passed on as a half-close (shutdown of sending); an error either way
/// ends both ways; a tunnel idle both ways for the idle timeout is cut by the engine's shared sweeper.
/// </summary>
internal static class Splicer
{
    /// <param name="clientReader">The client side, which may still hold bytes the gateway peeked at: they go first.</param>
    /// <param name="upstreamReader">The upstream side's reader when the gateway read from it (a 101 response), else null.</param>
    public static async Task<SpliceResult> RunAsync(SpliceEngine engine, Socket client, PipeReader clientReader, Socket upstream, PipeReader? upstreamReader,
        TimeSpan idleTimeout, CancellationToken cancellationToken)
    {
        using var watch = engine.Sweeper.Watch(idleTimeout, cancellationToken);
        var up = DirectionAsync(engine, clientReader, client, upstream, watch);
        var down = upstreamReader is null ? PumpAsync(engine, upstream, client, watch, 0) : DirectionAsync(engine, upstreamReader, upstream, client, watch);
        await Task.WhenAll(up, down).ConfigureAwait(false);
        return new SpliceResult(up.Result, down.Result);
    }

    private static async Task<long> DirectionAsync(SpliceEngine engine, PipeReader reader, Socket from, Socket to, IdleSweeper.Entry watch)
    {
        long sent = 0;
        try
        {
            // Bytes the gateway peeked at (a ClientHello, an HTTP head) still sit in the pipe: send them before anything
            // read from the socket. The pipe never reads ahead, so after this the socket holds everything else.
            if (reader.TryRead(out var result))
            {
                foreach (var segment in result.Buffer)
                {
                    await SendAllAsync(to, segment, watch.Token).ConfigureAwait(false);
                    sent += segment.Length;
                }
                reader.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    ShutdownSend(to);
                    return sent;
                }
            }
        }
        catch (Exception e) when (IsEnd(e))
        {
            watch.Cut();
            return sent;
        }
        return await PumpAsync(engine, from, to, watch, sent).ConfigureAwait(false);
    }

    private static Task<long> PumpAsync(SpliceEngine engine, Socket from, Socket to, IdleSweeper.Entry watch, long total) =>
        engine.UseSplice ? SpliceAsync(engine, from, to, watch, total) : CopyAsync(engine, from, to, watch, total);

    /// <summary>One direction through a kernel pipe rented from the pool only while bytes are ready.</summary>
    private static async Task<long> SpliceAsync(SpliceEngine engine, Socket from, Socket to, IdleSweeper.Entry watch, long total)
    {
        var fromHandle = from.SafeHandle;
        var toHandle = to.SafeHandle;
        bool fromRef = false, toRef = false;
        KernelPipe? pipe = null;
        try
        {
            // Held for the whole loop so a concurrent dispose cannot close (and the process reuse) a descriptor we splice.
            fromHandle.DangerousAddRef(ref fromRef);
            toHandle.DangerousAddRef(ref toRef);
            var fromFd = (int)fromHandle.DangerousGetHandle();
            var toFd = (int)toHandle.DangerousGetHandle();
            LinuxSplice.EnsureNonBlocking(fromFd); // each socket is the source of one direction: checked once
            var token = watch.Token;
            while (true)
            {
                // Readable, at its end, or failed: a zero-byte receive waits for any of these without a buffer.
                await from.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, token).ConfigureAwait(false);
                pipe = engine.Pipes.Rent();
                while (true)
                {
                    var moved = LinuxSplice.Splice(fromFd, pipe.WriteFd, pipe.Capacity, out var errno);
                    if (moved > 0)
                    {
                        await DrainAsync(engine, pipe, (int)moved, toFd, watch, token).ConfigureAwait(false);
                        total += moved;
                        watch.Touch();
                        if (moved < pipe.Capacity) break; // most likely drained: wait again rather than spend a splice on EAGAIN
                        continue;
                    }
                    if (moved == 0)
                    {
                        engine.Pipes.Return(pipe);
                        pipe = null;
                        ShutdownSend(to);
                        return total;
                    }
                    if (errno == LinuxSplice.EAGAIN) break; // drained what was there: back to waiting, without the pipe
                    throw new IOException($"splice from socket failed: errno {errno}");
                }
                engine.Pipes.Return(pipe);
                pipe = null;
            }
        }
        catch (Exception e) when (IsEnd(e))
        {
            watch.Cut(); // an error one way ends both ways: never leave a half-dead tunnel behind
        }
        finally
        {
            if (pipe is not null) engine.Pipes.Discard(pipe); // may still hold bytes: never pooled
            if (fromRef) fromHandle.DangerousRelease();
            if (toRef) toHandle.DangerousRelease();
        }
        return total;
    }

    /// <summary>Moves all <paramref name="count"/> bytes in the pipe to the destination socket.</summary>
    /// <remarks>Each move counts as activity: with 1 MiB pipes a slow reader may take minutes to drain one pipe, and
    /// the tunnel is not idle meanwhile.</remarks>
    private static async ValueTask DrainAsync(SpliceEngine engine, KernelPipe pipe, int count, int toFd, IdleSweeper.Entry watch, CancellationToken token)
    {
        var left = count;
        while (left > 0)
        {
            var moved = LinuxSplice.Splice(pipe.ReadFd, toFd, left, out var errno);
            if (moved > 0)
            {
                left -= (int)moved;
                watch.Touch();
                continue;
            }
            // The destination's send buffer is full (its reader is slower): wait until it takes bytes again. The bytes
            // stay in the pipe, and the source is not read meanwhile, so the sender is slowed by TCP's own window.
            if (moved < 0 && errno == LinuxSplice.EAGAIN)
            {
                await engine.Writable.WaitAsync(toFd, token).ConfigureAwait(false);
                continue;
            }
            throw new IOException($"splice to socket failed: errno {errno}");
        }
    }

    /// <summary>One direction through a pooled buffer rented only once bytes are ready (the portable fallback).</summary>
    private static async Task<long> CopyAsync(SpliceEngine engine, Socket from, Socket to, IdleSweeper.Entry watch, long total)
    {
        var token = watch.Token;
        try
        {
            while (true)
            {
                await from.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, token).ConfigureAwait(false);
                var buffer = ArrayPool<byte>.Shared.Rent(engine.ChunkSize);
                try
                {
                    var read = await from.ReceiveAsync(buffer.AsMemory(0, engine.ChunkSize), SocketFlags.None, token).ConfigureAwait(false);
                    if (read == 0) break;
                    await SendAllAsync(to, buffer.AsMemory(0, read), token).ConfigureAwait(false);
                    total += read;
                    watch.Touch();
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
            ShutdownSend(to);
        }
        catch (Exception e) when (IsEnd(e))
        {
            watch.Cut();
        }
        return total;
    }

    private static async ValueTask SendAllAsync(Socket to, ReadOnlyMemory<byte> bytes, CancellationToken token)
    {
        while (!bytes.IsEmpty) bytes = bytes[await to.SendAsync(bytes, SocketFlags.None, token).ConfigureAwait(false)..];
    }

    private static bool IsEnd(Exception e) => e is OperationCanceledException or SocketException or IOException or ObjectDisposedException;

    private static void ShutdownSend(Socket socket)
    {
        try { socket.Shutdown(SocketShutdown.Send); }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { /* peer already gone */ }
    }
}

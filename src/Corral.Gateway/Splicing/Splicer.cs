using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;

namespace Corral.Gateway.Splicing;

/// <summary>Bytes moved by a splice, each way.</summary>
public readonly record struct SpliceResult(long BytesUp, long BytesDown);

/// <summary>
/// Copies bytes both ways between a client and an upstream until both sides have finished, without looking at them.
/// Backpressure comes from awaiting each write before the next read; an end of stream on one side is passed on as a
/// half-close (shutdown of sending) so request/response protocols that half-close still work; buffers are pooled and
/// a read allocates nothing. A connection idle both ways for the idle timeout is cut.
/// </summary>
internal static class Splicer
{
    private const int BufferSize = 64 * 1024;

    /// <param name="clientReader">The client side, which may still hold bytes the gateway peeked at.</param>
    public static async Task<SpliceResult> RunAsync(Socket client, PipeReader clientReader, Socket upstream, TimeSpan idleTimeout, CancellationToken cancellationToken)
    {
        using var cut = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var activity = new Activity();
        using var idleTimer = new Timer(static s =>
        {
            var (a, c, limit) = ((Activity, CancellationTokenSource, long))s!;
            if (Environment.TickCount64 - Volatile.Read(ref a.LastTick) > limit) c.Cancel();
        }, (activity, cut, (long)idleTimeout.TotalMilliseconds), Period(idleTimeout), Period(idleTimeout));

        var up = UpAsync(clientReader, upstream, activity, cut);
        var down = DownAsync(upstream, client, activity, cut);
        await Task.WhenAll(up, down).ConfigureAwait(false);
        return new SpliceResult(up.Result, down.Result);
    }

    private static TimeSpan Period(TimeSpan idle) => TimeSpan.FromMilliseconds(Math.Clamp(idle.TotalMilliseconds / 4, 50, 30_000));

    private static async Task<long> UpAsync(PipeReader from, Socket to, Activity activity, CancellationTokenSource cut)
    {
        long total = 0;
        try
        {
            while (true)
            {
                var result = await from.ReadAsync(cut.Token).ConfigureAwait(false);
                var buffer = result.Buffer;
                foreach (var segment in buffer)
                {
                    var sent = 0;
                    while (sent < segment.Length) sent += await to.SendAsync(segment[sent..], SocketFlags.None, cut.Token).ConfigureAwait(false);
                    total += segment.Length;
                }
                from.AdvanceTo(buffer.End);
                Volatile.Write(ref activity.LastTick, Environment.TickCount64);
                if (result.IsCompleted || result.IsCanceled) break;
            }
            ShutdownSend(to);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or IOException or ObjectDisposedException)
        {
            cut.Cancel(); // an error one way ends both ways: never leave a half-dead tunnel behind
        }
        return total;
    }

    private static async Task<long> DownAsync(Socket from, Socket to, Activity activity, CancellationTokenSource cut)
    {
        long total = 0;
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            while (true)
            {
                var read = await from.ReceiveAsync(buffer.AsMemory(), SocketFlags.None, cut.Token).ConfigureAwait(false);
                if (read == 0) break;
                var sent = 0;
                while (sent < read) sent += await to.SendAsync(buffer.AsMemory(sent, read - sent), SocketFlags.None, cut.Token).ConfigureAwait(false);
                total += read;
                Volatile.Write(ref activity.LastTick, Environment.TickCount64);
            }
            ShutdownSend(to);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or IOException or ObjectDisposedException)
        {
            cut.Cancel();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        return total;
    }

    private static void ShutdownSend(Socket socket)
    {
        try { socket.Shutdown(SocketShutdown.Send); }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { /* peer already gone */ }
    }

    private sealed class Activity
    {
        public long LastTick = Environment.TickCount64;
    }
}

using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;

namespace Corral.Gateway.Proxy;

/// <summary>
/// A socket stream whose asynchronous reads and writes, when they complete later, go on on a thread-pool thread.
/// </summary>
/// <remarks>
/// The gateway runs with inline socket completions (DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1, set by
/// <c>corral gateway</c>): a completion runs its continuation on the socket event thread instead of a thread-pool
/// hop. That is what a spliced tunnel wants (a few non-blocking splice calls per event), but a TLS handshake, a
/// certificate, a request head or a payload scan must not hold an event thread, which serves many sockets. Every
/// stream the gateway parses or decrypts is this one, so that work moves back to the pool exactly as before; only
/// the splice loop and its dial stay on the event thread. Without inline completions nothing changes: continuations
/// already run on pool threads.
/// </remarks>
internal sealed class ResumingNetworkStream(Socket socket, bool ownsSocket) : NetworkStream(socket, ownsSocket)
{
    /// <summary>
    /// False while the gateway only looks at a stream's first bytes (a ClientHello or a request head: a bounded parse
    /// whose outcome is usually a splice, which belongs on the event thread anyway): a read that completes later then
    /// goes on where it completed, saving a hop to the pool and back per new tunnel.
    /// </summary>
    public bool ResumeReadsOnPool { get; set; } = true;

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var read = base.ReadAsync(buffer, cancellationToken);
        return read.IsCompleted || !ResumeReadsOnPool ? read : Resume(read);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var write = base.WriteAsync(buffer, cancellationToken);
        return write.IsCompleted ? write : Resume(write);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    private static async ValueTask<int> Resume(ValueTask<int> pending)
    {
        int n;
        try
        {
            n = await pending.ConfigureAwait(false);
        }
        catch (Exception e)
        {
            await ToPool(); // a reset or a timeout is handled (logged, answered, recorded) on the pool too
            ExceptionDispatchInfo.Throw(e);
            throw;
        }
        await ToPool();
        return n;
    }

    private static async ValueTask Resume(ValueTask pending)
    {
        try
        {
            await pending.ConfigureAwait(false);
        }
        catch (Exception e)
        {
            await ToPool();
            ExceptionDispatchInfo.Throw(e);
        }
        await ToPool();
    }

    /// <summary>Continues on a thread-pool thread when running anywhere else (a socket event thread).</summary>
    internal static PoolAwaitable ToPool() => default;

    /// <summary>Completes at once on a pool thread; elsewhere queues the continuation to the pool.</summary>
    internal readonly struct PoolAwaitable : ICriticalNotifyCompletion
    {
        public PoolAwaitable GetAwaiter() => this;
        public bool IsCompleted => Thread.CurrentThread.IsThreadPoolThread;
        public void GetResult() { }
        public void OnCompleted(Action continuation) => ThreadPool.QueueUserWorkItem(static c => ((Action)c!)(), continuation);
        public void UnsafeOnCompleted(Action continuation) => ThreadPool.UnsafeQueueUserWorkItem(static c => ((Action)c!)(), continuation);
    }
}

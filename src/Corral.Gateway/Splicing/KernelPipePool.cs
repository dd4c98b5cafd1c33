using System.Collections.Concurrent;

namespace Corral.Gateway.Splicing;

/// <summary>A kernel pipe used as the splice buffer of one direction while it moves bytes; always empty when pooled.</summary>
internal sealed class KernelPipe(int read, int write, int capacity)
{
    public int ReadFd { get; } = read;
    public int WriteFd { get; } = write;

    /// <summary>Bytes the pipe holds at most: what one splice into it moves at most.</summary>
    public int Capacity { get; } = capacity;

    public void Close()
    {
        LinuxSplice.Close(ReadFd);
        LinuxSplice.Close(WriteFd);
    }
}

/// <summary>
/// Empty kernel pipes shared by all tunnels. A direction rents one only while bytes flow and returns it when it goes
/// back to waiting, so an idle tunnel holds no pipe (no descriptors, no kernel pages) and a busy one pays no pipe2(2).
/// </summary>
internal sealed class KernelPipePool(int pipeSize, int maxPooled) : IDisposable
{
    private readonly ConcurrentQueue<KernelPipe> _pipes = new();
    private int _count;
    private bool _disposed;

    public int PipeSize { get; } = pipeSize;

    public KernelPipe Rent()
    {
        if (_pipes.TryDequeue(out var pipe))
        {
            Interlocked.Decrement(ref _count);
            return pipe;
        }
        var (read, write, capacity) = LinuxSplice.CreatePipe(PipeSize);
        return new KernelPipe(read, write, capacity);
    }

    /// <summary>Takes back a pipe known to be empty; a pipe that may still hold bytes must be closed instead.</summary>
    public void Return(KernelPipe pipe)
    {
        if (Interlocked.Increment(ref _count) > maxPooled)
        {
            Interlocked.Decrement(ref _count);
            pipe.Close();
            return;
        }
        _pipes.Enqueue(pipe);
        if (Volatile.Read(ref _disposed)) Drain(); // returned while the pool was being disposed: close it too
    }

    public void Dispose()
    {
        Volatile.Write(ref _disposed, true);
        Drain();
    }

    private void Drain()
    {
        while (_pipes.TryDequeue(out var pipe))
        {
            Interlocked.Decrement(ref _count);
            pipe.Close();
        }
    }
}

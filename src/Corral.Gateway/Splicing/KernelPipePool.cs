using System.Collections.Concurrent;

namespace Corral.Gateway.Splicing;

/// <summary>A kernel pipe used as the splice buffer of one direction while it moves bytes; always empty when pooled.</summary>
internal sealed class KernelPipe(int read, int write, int capacity, int charged)
{
    public int ReadFd { get; } = read;
    public int WriteFd { get; } = write;

    /// <summary>Bytes the pipe holds at most: what one splice into it moves at most.</summary>
    public int Capacity { get; } = capacity;

    /// <summary>Capacity asked for beyond the default, counted against the pool's budget until the pipe is closed.</summary>
    public int Charged { get; } = charged;

    public void Close()
    {
        LinuxSplice.Close(ReadFd);
        LinuxSplice.Close(WriteFd);
    }
}

/// <summary>
/// Empty kernel pipes shared by all tunnels. A direction rents one only while bytes flow and returns it when it goes
/// back to waiting, so an idle tunnel holds no pipe (no descriptors, no kernel pages) and a busy one pays no pipe2(2).
/// Pipes are enlarged to <paramref name="pipeSize"/> only while the enlarged pipes open stay within
/// <paramref name="enlargedBudget"/> bytes: Linux counts pipe capacity per user (fs/pipe-user-pages-soft, 64 MiB by
/// default), and an unprivileged user over that quota gets 8 KiB pipes everywhere. Beyond the budget pipes keep the
/// kernel's default size (64 KiB), which works as well, with more system calls per byte.
/// </summary>
internal sealed class KernelPipePool(int pipeSize, int maxPooled, long enlargedBudget) : IDisposable
{
    private readonly ConcurrentQueue<KernelPipe> _pipes = new();
    private int _count;
    private long _enlarged;
    private bool _disposed;

    public int PipeSize { get; } = pipeSize;

    /// <summary>Capacity beyond the default held by open enlarged pipes, pooled or rented.</summary>
    public long EnlargedBytes => Interlocked.Read(ref _enlarged);

    public KernelPipe Rent()
    {
        if (_pipes.TryDequeue(out var pipe))
        {
            Interlocked.Decrement(ref _count);
            return pipe;
        }
        var charge = PipeSize;
        if (charge > 0 && Interlocked.Add(ref _enlarged, charge) > enlargedBudget)
        {
            Interlocked.Add(ref _enlarged, -charge);
            charge = 0;
        }
        try
        {
            var (read, write, capacity) = LinuxSplice.CreatePipe(charge);
            return new KernelPipe(read, write, capacity, charge);
        }
        catch
        {
            Interlocked.Add(ref _enlarged, -charge);
            throw;
        }
    }

    /// <summary>Closes a pipe that may still hold bytes (never pooled) and gives back its share of the budget.</summary>
    public void Discard(KernelPipe pipe)
    {
        pipe.Close();
        if (pipe.Charged > 0) Interlocked.Add(ref _enlarged, -pipe.Charged);
    }

    /// <summary>Takes back a pipe known to be empty; a pipe that may still hold bytes must be closed instead.</summary>
    public void Return(KernelPipe pipe)
    {
        if (Interlocked.Increment(ref _count) > maxPooled)
        {
            Interlocked.Decrement(ref _count);
            Discard(pipe);
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
            Discard(pipe);
        }
    }
}

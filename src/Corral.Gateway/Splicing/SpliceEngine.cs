namespace Corral.Gateway.Splicing;

/// <summary>How a tunnel's bytes are moved.</summary>
internal enum CopyMode
{
    /// <summary>splice(2) through kernel pipes where supported, else the managed copy.</summary>
    Auto,
    /// <summary>Always the managed copy through pooled buffers (the fallback, kept testable).</summary>
    Managed,
}

/// <summary>What all tunnels of one gateway share: the copy mode, the pool of kernel pipes, the writable waiter and the idle sweeper.</summary>
internal sealed class SpliceEngine : IDisposable
{
    /// <summary>
    /// Pipe capacity asked for with F_SETPIPE_SZ (0 keeps the kernel default, 64 KiB). 1 MiB (fs/pipe-max-size's default,
    /// so allowed unprivileged) moves a busy stream in 16× fewer splices than 64 KiB; measured on 2 cores, the gateway's
    /// CPU per tunnelled GiB fell by about a third (docs/performance.md).
    /// </summary>
    public const int DefaultPipeSize = 1024 * 1024;

    /// <summary>At most this much enlarged pipe capacity at once: half of Linux's default per-user pipe quota.</summary>
    public const long EnlargedPipeBudget = 32L * 1024 * 1024;

    public SpliceEngine(TimeSpan idleTimeout, CopyMode mode = CopyMode.Auto, int pipeSize = DefaultPipeSize)
    {
        UseSplice = mode == CopyMode.Auto && LinuxSplice.IsSupported;
        Pipes = new KernelPipePool(pipeSize, maxPooled: 256, EnlargedPipeBudget);
        Sweeper = new IdleSweeper(IdleSweeper.PeriodFor(idleTimeout));
    }

    /// <summary>Waits for a full destination socket to take bytes again (its thread starts on the first wait).</summary>
    public WritableWaiter Writable { get; } = new();

    public bool UseSplice { get; }
    public KernelPipePool Pipes { get; }
    public IdleSweeper Sweeper { get; }

    /// <summary>The managed copy's buffer size (a splice moves up to its pipe's capacity).</summary>
    public int ChunkSize => 64 * 1024;

    public void Dispose()
    {
        Sweeper.Dispose();
        Writable.Dispose();
        Pipes.Dispose();
    }
}

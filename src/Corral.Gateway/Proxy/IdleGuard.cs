namespace Corral.Gateway.Proxy;

/// <summary>A cancellation that fires when nothing has moved for the idle timeout; every transfer re-arms it.</summary>
internal sealed class IdleGuard : IDisposable
{
    private readonly CancellationTokenSource _cts;
    private readonly TimeSpan _idle;

    public IdleGuard(TimeSpan idle, CancellationToken outer)
    {
        _idle = idle;
        _cts = CancellationTokenSource.CreateLinkedTokenSource(outer);
        _cts.CancelAfter(idle);
    }

    public CancellationToken Token => _cts.Token;

    public void Touch() => _cts.CancelAfter(_idle);

    public void Dispose() => _cts.Dispose();
}

using Corral.Policy.Compilation;

namespace Corral.Gateway.Decision;

/// <summary>
/// The policy in force. Swapped atomically, so a reload never half-applies. A flow takes it once, when it starts
/// (<see cref="FlowDecider.Snapshot"/>), and asks that snapshot everything (verdicts, payload patterns, MCP rules);
/// the DNS server takes it once per query; metrics and the admin API read <see cref="Current"/> when they need it.
/// </summary>
public sealed class PolicySource(CompiledPolicy initial)
{
    private CompiledPolicy _current = initial;

    public CompiledPolicy Current => Volatile.Read(ref _current);

    /// <summary>Raised on the swapping thread after each swap (off the flow path: swaps are reloads).</summary>
    public event Action<CompiledPolicy>? Swapped;

    public void Swap(CompiledPolicy next)
    {
        Volatile.Write(ref _current, next);
        Swapped?.Invoke(next);
    }
}

using Corral.Policy.Compilation;

namespace Corral.Gateway.Decision;

/// <summary>The policy in force. Swapped atomically, so a reload never half-applies; each flow reads it once.</summary>
public sealed class PolicySource(CompiledPolicy initial)
{
    private CompiledPolicy _current = initial;

    public CompiledPolicy Current => Volatile.Read(ref _current);

    public void Swap(CompiledPolicy next) => Volatile.Write(ref _current, next);
}

using Corral.Policy.Compilation;
using Corral.Policy.Linting;

namespace Corral.Gateway.Decision;

/// <summary>
/// A policy's rules that let flows through by address alone (those the <c>resolves-every-name</c> lint names), and the
/// same policy compiled without them: what the rules that read the name decide. Any name could resolve into an
/// address-only rule's destinations, so asking the whole policy "could this name be let through?" answers yes for
/// every name; asking the policy without them answers whether a rule that reads the name could. Immutable; built once
/// per policy snapshot.
/// </summary>
internal sealed class AddressOnlyRules
{
    private readonly HashSet<string> _names;

    public AddressOnlyRules(CompiledPolicy policy)
    {
        var document = policy.Document;
        var addressOnly = document.Rules.Where(r => PolicyLinter.ResolvesEveryName(r, document)).ToArray();
        _names = addressOnly.Select(r => r.Name).ToHashSet(StringComparer.Ordinal);
        Names = addressOnly.Select(r => r.Name).ToArray();
        Policy = policy;
        if (addressOnly.Length > 0)
            WithoutThem = CompiledPolicy.Compile(document with { Rules = document.Rules.Except(addressOnly).ToArray() }, policy.Options);
    }

    public CompiledPolicy Policy { get; }

    /// <summary>The address-only rules' names, in policy order.</summary>
    public IReadOnlyList<string> Names { get; }

    /// <summary>The policy without its address-only rules; null when it has none.</summary>
    public CompiledPolicy? WithoutThem { get; }

    public bool Contains(string? rule) => rule is not null && _names.Contains(rule);
}

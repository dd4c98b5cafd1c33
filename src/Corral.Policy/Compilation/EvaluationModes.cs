
namespace Corral.Policy.Compilation;

/// <summary>
/// What the evaluator knows of a flow. A struct parameter, so each mode gets its own JIT-compiled evaluator with the
/// other mode's branches removed.
/// </summary>
internal interface IFlowFacts
{
    /// <summary>True when the destination addresses are known (Decide, Explain); false before resolving.</summary>
    static abstract bool KnowsAddresses { get; }

    /// <summary>
    /// The rule's protocol, port and TLS conditions. Sets <paramref name="certain"/> to false when they could hold but
    /// need a fact not known yet.
    /// </summary>
    RuleCheck CheckTransport(CompiledRule rule, in Flow flow, ref bool certain);
}

/// <summary>Every fact of the flow is known.</summary>
internal readonly struct AddressesKnown : IFlowFacts
{
    public static bool KnowsAddresses => true;

    public RuleCheck CheckTransport(CompiledRule rule, in Flow flow, ref bool certain) => rule.CheckTransport(flow);
}

/// <summary>
/// The name is known, the addresses are not; with <paramref name="anyTransport"/> neither are port, protocol and TLS
/// (a DNS query), otherwise only whether the flow is TLS may be unknown (null).
/// </summary>
internal readonly struct AddressUnknown(bool anyTransport) : IFlowFacts
{
    public static bool KnowsAddresses => false;

    public RuleCheck CheckTransport(CompiledRule rule, in Flow flow, ref bool certain) =>
        rule.CheckTransportBeforeResolving(flow, anyTransport, ref certain);
}

/// <summary>How many 64-bit words a bitset of the policy takes: one, fixed at JIT time, or as many as it needs.</summary>
internal interface IWordCount
{
    static abstract bool IsOne { get; }
    static abstract int Of(int words);
}

/// <summary>Every bitset is one word (at most 64 rules, web groups and threat groups).</summary>
internal readonly struct OneWord : IWordCount
{
    public static bool IsOne => true;
    public static int Of(int words) => 1;
}

/// <summary>Bitsets as wide as the policy needs.</summary>
internal readonly struct AnyWords : IWordCount
{
    public static bool IsOne => false;
    public static int Of(int words) => words;
}

/// <summary>Receives what the evaluator sees, for explain; <see cref="NoTrace"/> compiles to nothing.</summary>
internal interface IDecisionTrace
{
    /// <summary>True to walk every rule (reporting why each failed) instead of only the candidates.</summary>
    static abstract bool TracesEveryRule { get; }

    void UrlHosts(ReadOnlySpan<ulong> urlHosts);
    void BeginAddress(int addressIndex, int set);
    void Rule(CompiledRule rule, RuleCheck check);
    void Decided(in Verdict verdict);
}

/// <summary>The trace of <see cref="CompiledPolicy.Decide"/>: none.</summary>
internal struct NoTrace : IDecisionTrace
{
    public static bool TracesEveryRule => false;
    public readonly void UrlHosts(ReadOnlySpan<ulong> urlHosts) { }
    public readonly void BeginAddress(int addressIndex, int set) { }
    public readonly void Rule(CompiledRule rule, RuleCheck check) { }
    public readonly void Decided(in Verdict verdict) { }
}

/// <summary>The trace of <see cref="CompiledPolicy.Explain"/>: forwards to the collecting <see cref="DecisionTrace"/>.</summary>
internal readonly struct ExplainTrace(DecisionTrace into) : IDecisionTrace
{
    public static bool TracesEveryRule => true;
    public void UrlHosts(ReadOnlySpan<ulong> urlHosts) => into.UrlHosts(urlHosts);
    public void BeginAddress(int addressIndex, int set) => into.BeginAddress(addressIndex, set);
    public void Rule(CompiledRule rule, RuleCheck check) => into.Rule(rule, check);
    public void Decided(in Verdict verdict) => into.Decided(verdict);
}

/// <summary>
/// The outcome of <see cref="CompiledPolicy.DecideBeforeResolving(in Flow)"/> and
/// <see cref="CompiledPolicy.DecideNameForAnyConnection"/>: a final verdict, or "resolve the name, then decide".
/// </summary>
public readonly record struct NameDecision
{
    private NameDecision(bool needsAddresses, Verdict verdict, CompiledRule? possibleRule)
    {
        NeedsAddresses = needsAddresses;
        Verdict = verdict;
        PossibleRule = possibleRule;
    }

    /// <summary>
    /// True when the verdict depends on the addresses: resolve the name and call <see cref="CompiledPolicy.Decide"/>.
    /// False when <see cref="Verdict"/> is final: carry it out with no DNS query.
    /// </summary>
    public bool NeedsAddresses { get; }

    /// <summary>
    /// When final, the verdict to carry out and log; it never lets the flow through (<see cref="Verdict.LetsThrough"/>
    /// is false). It is the verdict a public address in no smart group would get, so it names the rule that denies
    /// the name (a threat rule, a catch-all deny) or the default action. Default when <see cref="NeedsAddresses"/>.
    /// </summary>
    public Verdict Verdict { get; }

    /// <summary>When <see cref="NeedsAddresses"/>: the first rule that could let the flow through, or null for the default action.</summary>
    public CompiledRule? PossibleRule { get; }

    internal static NameDecision Final(Verdict verdict) => new(false, verdict, null);
    internal static NameDecision Resolve(CompiledRule? possibleRule) => new(true, default, possibleRule);
}

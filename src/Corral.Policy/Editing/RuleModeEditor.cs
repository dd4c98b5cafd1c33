using System.Text;
using Corral.Policy.Compilation;
using Corral.Policy.Loading;
using Corral.Policy.Model;

namespace Corral.Policy.Editing;

/// <summary>
/// Changes rules' modes (watch ↔ enforce) in one policy file for a long-lived owner, the gateway's reloader: edits the
/// text where its rules' modes are written, keeping the sites of the latest text it saw so that the next edit of that
/// text is a splice rather than a parse, and derives the compiled policy an edit gives from the one in force instead
/// of compiling again. Safe to call from several threads: the sites are replaced whole and used only for their own text.
/// </summary>
/// <param name="policyPath">The policy file: named in errors, read by <see cref="WarmUp"/>.</param>
public sealed class RuleModeEditor(string policyPath)
{
    private RuleModeSites _sites = RuleModeSites.None;

    /// <summary>Keeps the sites of a text just loaded (<see cref="CheckResult.ModeSites"/>): likely the next one edited.</summary>
    public void Remember(RuleModeSites sites) => Volatile.Write(ref _sites, sites);

    /// <summary>Sets one rule's mode in <paramref name="text"/> (whose bytes are <paramref name="bytes"/>): the new text, or an error.</summary>
    public (string? Text, string? Error) SetRuleMode(string text, ReadOnlySpan<byte> bytes, string ruleName, RuleMode mode)
    {
        var (sites, error) = SitesOf(text, bytes);
        return sites is null ? (null, error) : PolicyEditor.SetRuleMode(policyPath, text, sites, ruleName, mode);
    }

    /// <summary>
    /// The policy in force with one rule's mode changed, when <paramref name="after"/> is <paramref name="before"/>
    /// (the text of <paramref name="current"/>) with just that edit; null otherwise, and when <paramref name="before"/>
    /// turns out not to be that text. Then compile <paramref name="after"/>.
    /// </summary>
    public CompiledPolicy? DeriveModeChange(CompiledPolicy current, string before, string after, ReadOnlySpan<byte> afterBytes)
    {
        var beforeBytes = Encoding.UTF8.GetBytes(before);
        if (SitesOf(before, beforeBytes).Sites is not { } sites
            || !PolicyEditor.TryFindModeChange(before, current.Document.Rules, sites, after, out var rule, out var mode)) return null;
        return WithRuleMode(current, rule, mode, beforeBytes, afterBytes) is { } derived && derived.Hash != current.Hash ? derived : null;
    }

    /// <summary>
    /// <paramref name="policy"/> with one rule's mode changed, without compiling again: a mode changes only what a
    /// match of that rule puts in its verdict, so every lookup table is shared. The result equals (hash, rules,
    /// verdicts) what compiling <paramref name="editedText"/> gives; the tests hold it to that. Null when
    /// <paramref name="baseText"/> is not the text <paramref name="policy"/> was compiled from (the file moved on) or
    /// the rule does not exist: then compile the edited text instead.
    /// </summary>
    /// <param name="baseText">The policy file's bytes <paramref name="policy"/> was compiled from.</param>
    /// <param name="editedText">The same bytes with the rule's mode set (<see cref="PolicyEditor.SetRuleMode(string, RuleModeSite, RuleMode)"/>).</param>
    public static CompiledPolicy? WithRuleMode(CompiledPolicy policy, string ruleName, RuleMode mode, ReadOnlySpan<byte> baseText, ReadOnlySpan<byte> editedText)
    {
        var inputsDigest = policy.Document.InputsDigest;
        if (PolicyDocument.ContentHashOf(baseText, inputsDigest) != policy.Hash) return null;
        return policy.WithRuleMode(ruleName, mode, PolicyDocument.ContentHashOf(editedText, inputsDigest));
    }

    /// <summary>
    /// Runs the reload path (read, edit, load, compile, lint) on the policy file a few dozen times and discards the
    /// results, so the runtime compiles that code fully before an operator needs it: a gateway reloads rarely, and
    /// until a method has run some 30 times (counted only once start-up compiling has been quiet for a moment) the
    /// runtime keeps its quickly compiled, slow form: a Foundry-pack reload then costs about 3 ms instead of 0.4.
    /// Changes nothing in force; blocks for a few hundred milliseconds, so call it once after start, off the flow
    /// path. A large policy (inputs over 1 MiB, or a round slower than expected) is skipped or stopped early: its reload
    /// is its compile, which no warm-up shortens.
    /// </summary>
    /// <param name="inForce">The policy in force: its input files decide whether to warm up, its first rule is the one edited.</param>
    public void WarmUp(CompiledPolicy inForce, CompileOptions options, int rounds = 40)
    {
        if (InputBytes(inForce) > WarmUpLimitBytes) return; // a large policy: nothing to gain, seconds of CPU to lose
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        for (var i = 0; i < rounds; i++)
        {
            if (i > 0 && System.Diagnostics.Stopwatch.GetElapsedTime(started) > TimeSpan.FromMilliseconds(50 + 25 * i)) return;
            if (i == 3) Thread.Sleep(150); // the runtime starts counting calls once compiling has been quiet for 100 ms
            if (!PolicyLoader.TryReadInput(policyPath, WarmUpLimitBytes, out var bytes, out _)) return;
            var text = Encoding.UTF8.GetString(bytes);
            if (inForce.Document.Rules is [var rule, ..])
            {
                PolicyEditor.SetRuleMode(policyPath, text, rule.Name, rule.Mode); // a text it has no sites for
                SetRuleMode(text, bytes, rule.Name, rule.Mode);
            }
            // One compile per round: from text it runs the same loader and compiler a file reload does.
            var check = PolicyChecker.CheckText(policyPath, text, Path.GetDirectoryName(Path.GetFullPath(policyPath))!, options: options);
            if (check.Compiled is { } compiled) _ = PolicyDocument.ContentHashOf(bytes, compiled.Document.InputsDigest);
        }
    }

    private const long WarmUpLimitBytes = 1024 * 1024;

    private static long InputBytes(CompiledPolicy policy)
    {
        long total = 0;
        foreach (var file in policy.Document.InputFiles)
        {
            try { total += new FileInfo(file).Length; }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
        return total;
    }

    /// <summary>The sites of <paramref name="text"/>: the ones kept when they are its own, else parsed (and kept), else why not.</summary>
    private (RuleModeSites? Sites, string? Error) SitesOf(string text, ReadOnlySpan<byte> bytes)
    {
        var kept = Volatile.Read(ref _sites);
        if (kept.AreOf(bytes)) return (kept, null);
        var parsed = PolicyEditor.SitesOf(policyPath, text);
        if (parsed.Sites is { } sites) Remember(sites);
        return parsed;
    }
}

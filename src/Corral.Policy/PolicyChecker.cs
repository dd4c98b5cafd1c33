using Corral.Policy.Compilation;
using Corral.Policy.Diagnostics;
using Corral.Policy.Editing;
using Corral.Policy.Linting;
using Corral.Policy.Loading;
using Corral.Policy.Model;

namespace Corral.Policy;

/// <summary>The result of checking a policy: the compiled policy when it is usable, and every diagnostic.</summary>
public sealed record CheckResult(PolicyDocument? Document, CompiledPolicy? Compiled, IReadOnlyList<Diagnostic> Diagnostics)
{
    public bool Succeeded => Compiled is not null;
    public int ErrorCount => Diagnostics.Count(d => d.IsError);
    public int WarningCount => Diagnostics.Count(d => !d.IsError);

    /// <summary>Where each rule's mode is written in the text checked (<see cref="LoadResult.ModeSites"/>), for the editor.</summary>
    public RuleModeSites ModeSites { get; init; } = RuleModeSites.None;
}

/// <summary>Load, validate, compile and lint in one call: what check, explain, the gateway and terraform all start from.</summary>
public static class PolicyChecker
{
    /// <param name="strict">Treat lint warnings as errors.</param>
    public static CheckResult CheckFile(string path, bool strict = false, CompileOptions? options = null) =>
        Guarded(path, () => Finish(PolicyLoader.LoadFile(path), strict, options));

    public static CheckResult CheckText(string displayPath, string text, string baseDirectory, bool strict = false, CompileOptions? options = null) =>
        Guarded(displayPath, () => Finish(PolicyLoader.LoadText(displayPath, text, baseDirectory), strict, options));

    // A policy is untrusted input: whatever goes wrong while reading it is a refusal with a message, never a crash
    // (a reload keeps the policy in force when this returns no compiled policy).
    private static CheckResult Guarded(string path, Func<CheckResult> check)
    {
        try
        {
            return check();
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            return new CheckResult(null, null, [new Diagnostic(Severity.Error, "internal-error", SourceLocation.None(path),
                $"the policy could not be read: {ex.GetType().Name}: {ex.Message}")]);
        }
    }

    private static CheckResult Finish(LoadResult load, bool strict, CompileOptions? options)
    {
        var diagnostics = new List<Diagnostic>(load.Diagnostics);
        if (!load.Succeeded) return new CheckResult(null, null, Strict(diagnostics, strict));
        var compiled = CompiledPolicy.Compile(load.Policy!, options);
        diagnostics.AddRange(PolicyLinter.Lint(load.Policy!, compiled));
        var final = Strict(diagnostics, strict);
        return final.Any(d => d.IsError)
            ? new CheckResult(load.Policy, null, final)
            : new CheckResult(load.Policy, compiled, final) { ModeSites = load.ModeSites };
    }

    private static List<Diagnostic> Strict(List<Diagnostic> diagnostics, bool strict) =>
        strict ? diagnostics.Select(d => d.AsError()).ToList() : diagnostics;
}

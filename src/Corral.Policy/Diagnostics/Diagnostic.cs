namespace Corral.Policy.Diagnostics;

/// <summary>How bad a diagnostic is.</summary>
public enum Severity { Warning, Error }

/// <summary>One finding about an input: where, what, and what would be right.</summary>
/// <param name="Code">A stable kebab-case identifier, for scripts and suppression.</param>
/// <param name="Hint">What would be right, when we can say.</param>
public sealed record Diagnostic(Severity Severity, string Code, SourceLocation Location, string Message, string? Hint = null)
{
    public bool IsError => Severity == Severity.Error;

    /// <summary>The compiler-style line: <c>FILE:LINE:COL: error: message (hint)</c>.</summary>
    public override string ToString()
    {
        var level = Severity == Severity.Error ? "error" : "warning";
        var hint = Hint is null ? "" : $" ({Hint})";
        return $"{Location}: {level}: {Message}{hint} [{Code}]";
    }

    public Diagnostic AsError() => this with { Severity = Severity.Error };
}

/// <summary>Collects diagnostics during one load; never throws for bad input.</summary>
public sealed class DiagnosticBag
{
    private readonly List<Diagnostic> _items = [];

    public IReadOnlyList<Diagnostic> Items => _items;
    public bool HasErrors => _items.Exists(d => d.IsError);

    public void Error(string code, SourceLocation at, string message, string? hint = null) =>
        _items.Add(new Diagnostic(Severity.Error, code, at, message, hint));

    public void Warning(string code, SourceLocation at, string message, string? hint = null) =>
        _items.Add(new Diagnostic(Severity.Warning, code, at, message, hint));

    public void Add(Diagnostic diagnostic) => _items.Add(diagnostic);

    public void AddRange(IEnumerable<Diagnostic> diagnostics) => _items.AddRange(diagnostics);
}

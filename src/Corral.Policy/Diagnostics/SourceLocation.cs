namespace Corral.Policy.Diagnostics;

/// <summary>A place in an input file, 1-based, printed as FILE:LINE:COL.</summary>
public readonly record struct SourceLocation(string File, int Line, int Column)
{
    public static SourceLocation None(string file) => new(file, 0, 0);

    public override string ToString() => Line > 0 ? $"{File}:{Line}:{Column}" : File;
}

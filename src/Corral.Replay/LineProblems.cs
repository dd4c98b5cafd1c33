namespace Corral.Replay;

/// <summary>A line that could not be read as a flow record: where, and why.</summary>
public sealed record LineProblem(string Origin, string Problem)
{
    public override string ToString() => $"{Origin}: {Problem}";
}

/// <summary>
/// Malformed lines met while reading: every one counted, the first <see cref="Kept"/> kept with their line numbers
/// (so a corrupt file of a million lines reports in bounded memory).
/// </summary>
public sealed class LineProblems
{
    public const int Kept = 20;
    private readonly List<LineProblem> _first = [];

    public long Count { get; private set; }
    public IReadOnlyList<LineProblem> First => _first;

    public void Add(string origin, string problem)
    {
        Count++;
        if (_first.Count < Kept) _first.Add(new LineProblem(origin, problem));
    }
}

/// <summary>Thrown under <c>--strict</c> at the first malformed line.</summary>
public sealed class MalformedFlowLogException(LineProblem problem) : Exception(problem.ToString())
{
    public LineProblem Problem { get; } = problem;
}

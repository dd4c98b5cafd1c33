using Corral.Policy.Addressing;

namespace Corral.Policy.Compilation;

/// <summary>Settings that change how addresses are classified when compiling; the defaults are the safe ones.</summary>
public sealed record CompileOptions
{
    public static readonly CompileOptions Default = new();

    /// <summary>
    /// Addresses to treat as public internet and not as internal: for labs and tests whose stand-in "internet"
    /// hosts listen on loopback. Never set in production: it opens the internal-address guard for these addresses.
    /// </summary>
    public IReadOnlyList<IpPrefix> PublicStandIns { get; init; } = [];

    /// <summary>More addresses a hostname permit must never reach, such as the gateway's own.</summary>
    public IReadOnlyList<IpPrefix> ExtraGuarded { get; init; } = [];

    /// <summary>
    /// Where a compile takes its payload inspector: the gateway's reloader passes one cache for all its compiles, so
    /// a reload that keeps the patterns keeps their regexes. Null: each compile builds its own.
    /// </summary>
    public Inspection.InspectorCache? Inspectors { get; init; }
}

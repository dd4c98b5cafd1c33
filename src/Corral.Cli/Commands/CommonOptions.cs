using System.CommandLine;
using Corral.Policy.Diagnostics;

namespace Corral.Cli.Commands;

/// <summary>Arguments and output shared by the commands that read a policy.</summary>
internal static class CommonOptions
{
    public static Argument<string> PolicyArgument() => new("policy")
    {
        Description = "The policy file",
        DefaultValueFactory = _ => "corral.yaml",
        Arity = ArgumentArity.ZeroOrOne,
    };

    public static void WriteDiagnostics(TextWriter writer, IEnumerable<Diagnostic> diagnostics)
    {
        foreach (var d in diagnostics) writer.WriteLine(d.ToString());
    }
}

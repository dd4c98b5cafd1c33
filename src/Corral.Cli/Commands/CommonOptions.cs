using System.CommandLine;
using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using Corral.Policy;
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

    /// <summary>The flow-log files to read (<c>--flows</c>, repeatable; a live log brings its rotated files).</summary>
    public static Option<string[]> FlowsOption(string description) => new("--flows")
    {
        Description = description,
        AllowMultipleArgumentsPerToken = true,
        Arity = ArgumentArity.OneOrMore,
    };

    /// <summary>Compiles the policy once; on errors prints them and tells the user to run check.</summary>
    public static bool TryCompile(string command, string policyPath, TextWriter stderr, [NotNullWhen(true)] out CheckResult? result)
    {
        result = PolicyChecker.CheckFile(policyPath);
        if (result.Succeeded) return true;
        WriteDiagnostics(stderr, result.Diagnostics.Where(d => d.IsError));
        stderr.WriteLine($"corral {command}: {policyPath}: {result.ErrorCount} error(s); fix them with 'corral check' first");
        result = null;
        return false;
    }

    /// <summary>JSON output as the CLI writes it: UTF-8, names and paths unescaped.</summary>
    public static void WriteJson(TextWriter stdout, Action<Utf8JsonWriter> write, bool indented = true)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = indented, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            write(w);
        stdout.WriteLine(System.Text.Encoding.UTF8.GetString(stream.ToArray()));
    }

    public static void WriteDiagnostics(TextWriter writer, IEnumerable<Diagnostic> diagnostics)
    {
        foreach (var d in diagnostics) writer.WriteLine(d.ToString());
    }
}

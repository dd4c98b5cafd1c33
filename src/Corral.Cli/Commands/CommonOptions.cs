using System.CommandLine;
using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using Corral.Policy;
using Corral.Policy.Addressing;
using Corral.Policy.Compilation;
using Corral.Policy.Diagnostics;

namespace Corral.Cli.Commands;

/// <summary>Arguments and output shared by the commands that read a policy.</summary>
internal static class CommonOptions
{
    /// <summary>
    /// How the user runs corral, for "next:" hints they can copy: scripts/corral from a checkout (it says so in
    /// CORRAL_INVOKED_AS), else the installed tool's name.
    /// </summary>
    public static string InvokedAs => Environment.GetEnvironmentVariable("CORRAL_INVOKED_AS") is { Length: > 0 } path ? path : "corral";

    /// <summary>The policy file a command reads when none is named.</summary>
    public const string DefaultPolicyFile = "corral.yaml";

    public static Argument<string> PolicyArgument() => new("policy")
    {
        Description = "The policy file",
        DefaultValueFactory = _ => DefaultPolicyFile,
        Arity = ArgumentArity.ZeroOrOne,
    };

    /// <summary>The flow-log files to read (<c>--flows</c>, repeatable; a live log brings its rotated files).</summary>
    public static Option<string[]> FlowsOption(string description) => new("--flows")
    {
        Description = description,
        AllowMultipleArgumentsPerToken = true,
        Arity = ArgumentArity.OneOrMore,
    };

    /// <summary><c>--public-standin CIDR</c>: for labs and tests whose loopback stand-ins play internet hosts.</summary>
    public static Option<string[]> PublicStandInOption() => new("--public-standin")
    {
        Description = "LAB/TEST ONLY: treat addresses in this CIDR (e.g. 127.0.0.0/8) as public internet, so loopback stand-ins can play internet hosts. Opens the internal-address guard for them; never use in production. Repeatable.",
    };

    /// <summary>Reads <see cref="PublicStandInOption"/>'s values; the error names the bad one.</summary>
    public static bool TryParseStandIns(string[]? texts, out List<IpPrefix> prefixes, out string? error)
    {
        prefixes = [];
        error = null;
        foreach (var text in texts ?? [])
        {
            if (!IpPrefix.TryParse(text, out var prefix, out var e)) { error = $"--public-standin '{text}': {e}"; return false; }
            prefixes.Add(prefix);
        }
        return true;
    }

    /// <summary>Compiles the policy once; on errors prints them and tells the user to run check.</summary>
    public static bool TryCompile(string command, string policyPath, TextWriter stderr, [NotNullWhen(true)] out CheckResult? result, CompileOptions? options = null)
    {
        result = PolicyChecker.CheckFile(policyPath, options: options);
        if (result.Succeeded) return true;
        WriteDiagnostics(stderr, result.Diagnostics.Where(d => d.IsError));
        stderr.WriteLine($"corral {command}: {policyPath}: {result.ErrorCount} error(s); fix them with '{InvokedAs} check' first");
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
        foreach (var d in diagnostics) writer.WriteLine(AsInvoked(d).ToString());
    }

    /// <summary>
    /// A diagnostic whose hint names the command as the user runs it: the policy core writes 'corral …' (it cannot know
    /// how it was run), which from a checkout is scripts/corral.
    /// </summary>
    public static Diagnostic AsInvoked(Diagnostic d) => d.Hint is null ? d : d with { Hint = AsInvoked(d.Hint) };

    /// <summary>Every quoted 'corral …' command in <paramref name="text"/>, named as the user runs corral.</summary>
    public static string AsInvoked(string text) =>
        InvokedAs == "corral" ? text : text.Replace("'corral ", $"'{InvokedAs} ", StringComparison.Ordinal);
}

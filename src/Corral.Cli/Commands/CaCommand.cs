using System.CommandLine;
using Corral.Certificates;
using Corral.Policy;
using Corral.Policy.Model;

namespace Corral.Cli.Commands;

/// <summary><c>corral ca init|export</c>: make the interception CA, or write its certificate for trust stores.</summary>
internal static class CaCommand
{
    public const string DefaultDirectory = "corral-ca";

    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var command = new Command("ca", "Make or export the TLS interception CA");
        command.Subcommands.Add(Init(stdout, stderr));
        command.Subcommands.Add(Export(stdout, stderr));
        return command;
    }

    private static Command Init(TextWriter stdout, TextWriter stderr)
    {
        var output = new Option<string>("--out") { Description = "Folder for corral-ca.crt and corral-ca.key (owner-only)", DefaultValueFactory = _ => DefaultDirectory };
        var rsa = new Option<bool>("--rsa") { Description = "RSA 3072 instead of ECDSA P-256 (for clients that lack ECDSA)" };
        var constrainTo = new Option<string?>("--constrain-to") { Description = "A policy: limit the CA to the names its decrypting rules permit (X.509 name constraints)" };
        var force = new Option<bool>("--force") { Description = "Replace an existing CA in the folder" };
        var command = new Command("init", "Make a new interception root CA") { output, rsa, constrainTo, force };
        command.SetAction(parse =>
        {
            IReadOnlyList<string>? names = null;
            if (parse.GetValue(constrainTo) is { } policyPath)
            {
                var result = PolicyChecker.CheckFile(policyPath);
                if (!result.Succeeded)
                {
                    CommonOptions.WriteDiagnostics(stderr, result.Diagnostics.Where(d => d.IsError));
                    return CorralCommand.InputError;
                }
                names = DecryptableNames(result.Document!);
                if (names.Count == 0)
                {
                    stderr.WriteLine($"corral ca init: {policyPath} has no permit rule with 'decrypt: allowed' and web groups; nothing to constrain the CA to");
                    return CorralCommand.InputError;
                }
            }
            try
            {
                using var ca = CertificateAuthority.Create(new CaOptions
                {
                    KeyType = parse.GetValue(rsa) ? CaKeyType.Rsa3072 : CaKeyType.EcdsaP256,
                    PermittedDnsNames = names,
                });
                var (cert, key) = ca.Save(parse.GetValue(output)!, parse.GetValue(force));
                stdout.WriteLine($"wrote {cert} (the CA certificate: add it to the agent's trust store, see docs/trust-store.md)");
                stdout.WriteLine($"wrote {key} (the private key, mode 600: keep it on the gateway only)");
                if (GitIgnoreCheck.IsExposed(key))
                    stderr.WriteLine($"corral ca init: warning: {key} is in a git work tree that does not ignore it: add its folder to .gitignore so the private key is never committed");
                if (names is not null) stdout.WriteLine($"constrained to: {string.Join(", ", names)}");
                // The policy the CA was made for, else the gateway's default policy file: named, so the line runs as printed.
                stdout.WriteLine($"next: {CommonOptions.InvokedAs} gateway {parse.GetValue(constrainTo) ?? CommonOptions.DefaultPolicyFile} --ca-cert {cert} --ca-key {key}");
                return CorralCommand.Ok;
            }
            catch (CaException ex)
            {
                stderr.WriteLine($"corral ca init: {ex.Message} (use --force to replace it)");
                return CorralCommand.InputError;
            }
        });
        return command;
    }

    private static Command Export(TextWriter stdout, TextWriter stderr)
    {
        var caDir = new Option<string>("--ca-dir") { Description = "The folder 'corral ca init' wrote", DefaultValueFactory = _ => DefaultDirectory };
        var output = new Option<string?>("--out") { Description = "Folder to write corral-ca.crt into (default: print the PEM)" };
        var command = new Command("export", "Write the CA certificate (PEM) for agents' trust stores") { caDir, output };
        command.SetAction(parse =>
        {
            var dir = parse.GetValue(caDir)!;
            try
            {
                using var ca = CertificateAuthority.Load(Path.Combine(dir, CertificateAuthority.CertificateFileName), Path.Combine(dir, CertificateAuthority.KeyFileName));
                var pem = ca.Certificate.ExportCertificatePem() + "\n";
                if (parse.GetValue(output) is { } outDir)
                {
                    Directory.CreateDirectory(outDir);
                    var path = Path.Combine(outDir, CertificateAuthority.CertificateFileName);
                    File.WriteAllText(path, pem);
                    stdout.WriteLine($"wrote {path}");
                }
                else stdout.Write(pem);
                return CorralCommand.Ok;
            }
            catch (CaException ex)
            {
                stderr.WriteLine($"corral ca export: {ex.Message}");
                return CorralCommand.InputError;
            }
        });
        return command;
    }

    /// <summary>The web-group names of permit rules that may decrypt: all a constrained CA may sign.</summary>
    internal static IReadOnlyList<string> DecryptableNames(PolicyDocument document)
    {
        var groups = document.Rules.Where(r => r.Action == RuleAction.Permit && r.Decrypt == DecryptPolicy.Allowed)
            .SelectMany(r => r.WebGroups.Select(w => w.Value)).ToHashSet(StringComparer.Ordinal);
        return document.WebGroups.Where(w => groups.Contains(w.Name))
            .SelectMany(w => w.Domains.Select(d => d.Value.ToString()).Concat(w.Urls.Select(u => u.Value.Host.ToString())))
            .Distinct().Order(StringComparer.Ordinal).ToList();
    }
}

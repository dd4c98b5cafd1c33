using Corral.Policy.Compilation;
using Corral.Policy.Diagnostics;
using Corral.Terraform.Mapping;

namespace Corral.Terraform;

/// <summary>
/// A generated module: file name → content (in a fixed order), and what could not be carried over. When the policy
/// cannot be deployed on Aviatrix as it stands (<see cref="Errors"/>), there are no files.
/// </summary>
public sealed record TerraformModule(IReadOnlyList<KeyValuePair<string, string>> Files, IReadOnlyList<ExportWarning> Warnings)
{
    /// <summary>Why no module was written, each at the policy line it comes from.</summary>
    public IReadOnlyList<Diagnostic> Errors { get; init; } = [];

    public bool Succeeded => Errors.Count == 0;

    /// <summary>Writes every file into <paramref name="directory"/> (created if needed), replacing files of the same name.</summary>
    public void WriteTo(string directory)
    {
        if (!Succeeded) throw new InvalidOperationException("a module with errors has no files to write: " + Errors[0]);
        Directory.CreateDirectory(directory);
        foreach (var (name, content) in Files)
            File.WriteAllText(Path.Combine(directory, name), content, new System.Text.UTF8Encoding(false));
    }
}

/// <summary>Compiles a checked policy into the Terraform module that deploys it on Aviatrix DCF in front of an Azure AI Foundry agent subnet.</summary>
public static class TerraformExporter
{
    /// <summary>Builds the whole module in memory; nothing touches the disk, so a failure leaves no half-written module.</summary>
    public static TerraformModule Export(CompiledPolicy policy, TerraformOptions? options = null)
    {
        var agentWarnings = new List<ExportWarning>();
        var context = new ModuleContext(AgentSources.ForAviatrix(policy, agentWarnings), options ?? new TerraformOptions());
        var warnings = agentWarnings.Concat(Unexpressible.Find(context)).ToList();
        if (GroupLimits.Errors(context) is { Count: > 0 } errors) return new TerraformModule([], warnings) { Errors = errors };
        var files = new List<KeyValuePair<string, string>>
        {
            new(VersionsFile.FileName, VersionsFile.Write(context)),
            new(VariablesFile.FileName, VariablesFile.Write(context)),
            new(TfvarsExample.FileName, TfvarsExample.Write(context)),
            new(SmartGroupsFile.FileName, SmartGroupsFile.Write(context)),
            new(WebGroupsFile.FileName, WebGroupsFile.Write(context)),
            new(DcfFile.FileName, DcfFile.Write(context)),
            new(NetworkFile.FileName, NetworkFile.Write(context)),
            new(GatewayFile.FileName, GatewayFile.Write(context)),
            new(OutputsFile.FileName, OutputsFile.Write(context)),
            new(ModuleReadme.FileName, ModuleReadme.Write(context, warnings)),
        };
        // The policy's interception CA (checked as it loaded), copied beside the module so that it applies from its own folder.
        if (context.Decrypts && context.Document.Tls.InterceptionCa is { } ca) files.Add(new(VariablesFile.InterceptionCaFile, ca.Pem));
        return new TerraformModule(files, warnings);
    }
}

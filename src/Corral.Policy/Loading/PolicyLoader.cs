using System.Security.Cryptography;
using Corral.Policy.Diagnostics;
using Corral.Policy.Editing;
using Corral.Policy.Loading.Sections;
using Corral.Policy.Model;

namespace Corral.Policy.Loading;

/// <summary>The outcome of loading a policy: the document when it is sound, and every diagnostic found in one pass.</summary>
public sealed record LoadResult(PolicyDocument? Policy, IReadOnlyList<Diagnostic> Diagnostics)
{
    public bool Succeeded => Policy is not null && !Diagnostics.Any(d => d.IsError);

    /// <summary>Where each rule's mode is written in the text loaded, for the editor; none when the load failed.</summary>
    public RuleModeSites ModeSites { get; init; } = RuleModeSites.None;
}

/// <summary>
/// Loads corral.yaml: reads the YAML within bounds, checks every key and value against the format, reads the
/// feed and service-tag files it names (relative to the policy file), and reports all errors at once with their
/// FILE:LINE:COL. A policy with any error yields no document: nothing is half-loaded.
/// </summary>
public static class PolicyLoader
{
    private static readonly string[] TopKeys = ["version", "name", "defaultAction", "smartGroups", "webGroups", "threatGroups", "serviceTags", "rules", "inspection", "dns", "tls", "credentials", "agents"];
    public const int MaxPortRanges = 64;

    public static LoadResult LoadFile(string path)
    {
        var diagnostics = new DiagnosticBag();
        if (!File.Exists(path) && !Directory.Exists(path))
        {
            diagnostics.Error("file-not-found", SourceLocation.None(path), "policy file not found", "create one with 'corral init --template azure-foundry'");
            return new LoadResult(null, diagnostics.Items);
        }
        if (!BoundedFile.TryRead(Path.GetFullPath(path), YamlTree.MaxBytes, out var bytes, out var problem))
        {
            diagnostics.Error(problem!.StartsWith("is ", StringComparison.Ordinal) && problem.Contains("limit") ? "file-too-large" : "file-unreadable",
                SourceLocation.None(path), $"policy file {problem}");
            return new LoadResult(null, diagnostics.Items);
        }
        return Load(path, bytes, Path.GetDirectoryName(Path.GetFullPath(path))!, diagnostics);
    }

    /// <summary>Reads a policy or input file the way the loader does: a regular file within <paramref name="maxBytes"/>, never a FIFO or a device.</summary>
    public static bool TryReadInput(string path, long maxBytes, out byte[] bytes, out string? error) =>
        BoundedFile.TryRead(Path.GetFullPath(path), maxBytes, out bytes, out error);

    /// <summary>Loads policy text; relative feed and service-tag paths resolve against <paramref name="baseDirectory"/>.</summary>
    public static LoadResult LoadText(string displayPath, string text, string baseDirectory) =>
        Load(displayPath, System.Text.Encoding.UTF8.GetBytes(text), baseDirectory, new DiagnosticBag());

    private static LoadResult Load(string displayPath, byte[] bytes, string baseDirectory, DiagnosticBag diagnostics)
    {
        var root = YamlTree.Read(displayPath, bytes, diagnostics);
        if (diagnostics.HasErrors) return new LoadResult(null, diagnostics.Items);
        if (root is not YMapping top)
        {
            diagnostics.Error("bad-document", root?.Location ?? new SourceLocation(displayPath, 1, 1), "a policy file is a mapping with version, smartGroups, webGroups, rules, …",
                "start from 'corral init --template azure-foundry'");
            return new LoadResult(null, diagnostics.Items);
        }
        // The feeds and service tags are hashed as they are parsed; the policy text is hashed on its own, so a change
        // to the text alone (a rule's mode) can be hashed again without reading the other files.
        using var inputsHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var bom = bytes is [0xEF, 0xBB, 0xBF, ..] ? 1 : 0; // the decoded text keeps it as one character; YAML offsets do not count it
        var inputs = new PolicyInputs(baseDirectory, inputsHash);
        var modeSites = new RuleModeSites.Builder(bom);
        var document = ReadDocument(displayPath, top, new NodeReader(diagnostics), inputs, modeSites);
        if (diagnostics.HasErrors) return new LoadResult(null, diagnostics.Items);
        var inputsDigest = Convert.ToHexStringLower(inputsHash.GetHashAndReset());
        var textHash = SHA256.HashData(bytes);
        document = document with
        {
            ContentHash = PolicyDocument.ContentHashFrom(textHash, inputsDigest),
            InputsDigest = inputsDigest,
            InputFiles = [Path.GetFullPath(Path.Combine(baseDirectory, Path.GetFileName(displayPath))), .. inputs.Files],
        };
        return new LoadResult(document, diagnostics.Items) { ModeSites = modeSites.Build(textHash) };
    }

    /// <summary>
    /// Reads the sections in a fixed order, each with its own reader, then checks the rules' references against every
    /// group section; the order of the diagnostics follows it (the service tags before the smart groups that use them).
    /// </summary>
    private static PolicyDocument ReadDocument(string file, YMapping top, NodeReader nodes, PolicyInputs inputs, RuleModeSites.Builder modeSites)
    {
        nodes.CheckKeys(top, TopKeys, "the policy");
        var version = 1;
        if (NodeReader.Get(top, "version") is { } versionNode)
        {
            if (!NodeReader.TryInt(versionNode, out version) || version != 1)
                nodes.Error("bad-version", versionNode, $"unsupported version '{NodeReader.ScalarText(versionNode)}'", "this Corral reads version: 1");
        }
        else nodes.Error("missing-key", top, "missing 'version'", "add 'version: 1'");

        var name = NodeReader.Get(top, "name") is { } nameNode ? nodes.String(nameNode, "name") ?? "" : "";
        var defaultAction = RuleAction.Deny;
        if (NodeReader.Get(top, "defaultAction") is { } da) defaultAction = nodes.Enum(da, "defaultAction", Words.Actions) ?? RuleAction.Deny;

        var serviceTags = new ServiceTagsSectionReader(nodes, inputs).Read(NodeReader.Get(top, "serviceTags"), out var tagsFile);
        var groups = new GroupNames();
        var smartGroupReader = new SmartGroupReader(nodes, serviceTags, tagsFile);
        var smartGroups = GroupSectionReader.Read(nodes, groups, NodeReader.Get(top, "smartGroups"), GroupSection.Smart, smartGroupReader.Read);
        smartGroupReader.ReportUnenforcedTags();
        var webGroups = GroupSectionReader.Read(nodes, groups, NodeReader.Get(top, "webGroups"), GroupSection.Web, new WebGroupReader(nodes).Read);
        var threatGroups = GroupSectionReader.Read(nodes, groups, NodeReader.Get(top, "threatGroups"), GroupSection.Threat, new ThreatGroupReader(nodes, inputs).Read);
        var agents = GroupSectionReader.Read(nodes, groups, NodeReader.Get(top, "agents"), GroupSection.Agents, new AgentsSectionReader(nodes).Read);
        var rules = new RulesSectionReader(nodes, modeSites).Read(NodeReader.Get(top, "rules"), top);
        new ReferenceValidator(nodes, groups).Check(rules, webGroups);
        var credentialsReader = new CredentialsSectionReader(nodes, groups, inputs);
        var credentials = credentialsReader.Read(NodeReader.Get(top, "credentials"));
        credentialsReader.CheckReachable(credentials, rules);

        var inspection = new InspectionSectionReader(nodes).Read(NodeReader.Get(top, "inspection"));
        var dns = new DnsSectionReader(nodes).Read(NodeReader.Get(top, "dns"));
        var tls = new TlsSectionReader(nodes, inputs).Read(NodeReader.Get(top, "tls"));

        return new PolicyDocument(file, version, name, defaultAction, smartGroups, webGroups, threatGroups, serviceTags,
            rules, ContentHash: "") { Inspection = inspection, Dns = dns, Tls = tls, Credentials = credentials, Agents = agents }; // the hash is set by Load, once the inputs are read
    }
}

using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Corral.Policy.Addressing;
using Corral.Policy.Diagnostics;
using Corral.Policy.Model;

namespace Corral.Policy.Loading;

/// <summary>The outcome of loading a policy: the document when it is sound, and every diagnostic found in one pass.</summary>
public sealed record LoadResult(PolicyDocument? Policy, IReadOnlyList<Diagnostic> Diagnostics)
{
    public bool Succeeded => Policy is not null && !Diagnostics.Any(d => d.IsError);
}

/// <summary>
/// Loads corral.yaml: reads the YAML within bounds, checks every key and value against the format, reads the
/// feed and service-tag files it names (relative to the policy file), and reports all errors at once with their
/// FILE:LINE:COL. A policy with any error yields no document: nothing is half-loaded.
/// </summary>
public static partial class PolicyLoader
{
    private static readonly string[] TopKeys = ["version", "name", "defaultAction", "smartGroups", "webGroups", "threatGroups", "serviceTags", "rules", "inspection", "dns"];
    private static readonly string[] DnsKeys = ["mode"];
    private static readonly string[] InspectionKeys = ["patterns", "custom", "scanAuthorizationHeader"];
    private static readonly string[] CustomPatternKeys = ["name", "regex"];
    private static readonly string[] SmartGroupKeys = ["cidrs", "serviceTag"];
    private static readonly string[] WebGroupKeys = ["domains", "urls"];
    private static readonly string[] ThreatGroupKeys = ["feeds"];
    private static readonly string[] ServiceTagsKeys = ["file", "region", "cloud"];

    /// <summary>The values of a Service Tags file's <c>cloud</c>, one file per Azure cloud.</summary>
    private static readonly string[] AzureClouds = ["Public", "AzureGovernment", "China", "AzureGermany"];
    private static readonly string[] RuleKeys = ["name", "priority", "source", "destination", "webGroups", "action", "protocol", "ports", "decrypt", "mode", "logging", "requireTls", "mcp"];
    private static readonly string[] McpKeys = ["tools", "pinTools", "methods"];
    public const int MaxPortRanges = 64;

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]
    private static partial Regex NamePattern();

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
        var reader = new DocumentReader(displayPath, baseDirectory, diagnostics, inputsHash, bom);
        var document = reader.Read(top);
        if (document is not null)
        {
            var inputsDigest = Convert.ToHexStringLower(inputsHash.GetHashAndReset());
            document = document with
            {
                ContentHash = PolicyDocument.ContentHashOf(bytes, inputsDigest),
                InputsDigest = inputsDigest,
                InputFiles = [Path.GetFullPath(Path.Combine(baseDirectory, Path.GetFileName(displayPath))), .. reader.InputFiles],
            };
        }
        return new LoadResult(diagnostics.HasErrors ? null : document, diagnostics.Items);
    }

    /// <summary>Walks the YAML tree once, building the model and collecting every error.</summary>
    private sealed class DocumentReader(string file, string baseDirectory, DiagnosticBag diagnostics, IncrementalHash hash, int bom)
    {
        private readonly Dictionary<string, (string Kind, SourceLocation At)> _groupNames = new(StringComparer.Ordinal);

        private int _feedEntryBudget = FeedReader.MaxEntries;
        private int _suggestions;

        /// <summary>"Did you mean" for the first hundred mistakes; past that, a file of typos would make suggestions the slow part.</summary>
        private string? Hint(string input, IEnumerable<string> candidates) =>
            ++_suggestions <= 100 ? Suggest.DidYouMean(input, candidates) : null;

        /// <summary>Full paths of the feed and service-tag files read.</summary>
        public List<string> InputFiles { get; } = [];
        private readonly Dictionary<string, (string Kind, SourceLocation At)> _webGroupNames = new(StringComparer.Ordinal);

        public PolicyDocument? Read(YMapping top)
        {
            CheckKeys(top, TopKeys, "the policy");
            var version = 1;
            if (Get(top, "version") is { } versionNode)
            {
                if (!TryInt(versionNode, out version) || version != 1)
                    Error("bad-version", versionNode, $"unsupported version '{ScalarText(versionNode)}'", "this Corral reads version: 1");
            }
            else Error("missing-key", top, "missing 'version'", "add 'version: 1'");

            var name = Get(top, "name") is { } nameNode ? String(nameNode, "name") ?? "" : "";
            var defaultAction = RuleAction.Deny;
            if (Get(top, "defaultAction") is { } da) defaultAction = Enum(da, "defaultAction", ActionWords) ?? RuleAction.Deny;

            var serviceTags = ReadServiceTagsSource(Get(top, "serviceTags"), out var tagsFile);
            var smartGroups = ReadGroups(Get(top, "smartGroups"), "smartGroups", (n, m) => ReadSmartGroup(n, m, serviceTags, tagsFile));
            var webGroups = ReadGroups(Get(top, "webGroups"), "webGroups", ReadWebGroup);
            var threatGroups = ReadGroups(Get(top, "threatGroups"), "threatGroups", ReadThreatGroup);
            var rules = ReadRules(Get(top, "rules"), top);
            CheckRuleReferences(rules);
            CheckUrlFiltersCanBeSeen(rules, webGroups);

            var inspection = ReadInspection(Get(top, "inspection"));
            var dns = ReadDns(Get(top, "dns"));

            return new PolicyDocument(file, version, name, defaultAction, smartGroups, webGroups, threatGroups, serviceTags,
                rules, ContentHash: "") { Inspection = inspection, Dns = dns }; // the hash is set by Load, once the inputs are read
        }

        // ---- groups -------------------------------------------------------------------------------------

        private List<T> ReadGroups<T>(YNode? node, string section, Func<string, YMapping, T?> read) where T : class
        {
            var result = new List<T>();
            if (node is null || node is YScalar { IsNull: true }) return result;
            if (node is not YMapping map)
            {
                Error("bad-type", node, $"'{section}' is a mapping of group name to definition");
                return result;
            }
            foreach (var (key, value) in map.Entries)
            {
                var name = key.Value;
                if (!NamePattern().IsMatch(name))
                {
                    Error("bad-name", key, $"group name '{name}' must be letters, digits, '.', '_' or '-' (at most 128)");
                    continue;
                }
                if (PolicyDocument.BuiltInGroups.Contains(name))
                {
                    Error("reserved-name", key, $"'{name}' is a built-in group and cannot be redefined");
                    continue;
                }
                var names = section == "webGroups" ? _webGroupNames : _groupNames;
                if (names.TryGetValue(name, out var existing) || (section != "webGroups" && _webGroupNames.TryGetValue(name, out existing)) ||
                    (section == "webGroups" && _groupNames.TryGetValue(name, out existing)))
                {
                    Error("duplicate-group", key, $"group '{name}' is already defined as a {existing.Kind}", $"at {existing.At}; group names are unique across smartGroups, webGroups and threatGroups");
                    continue;
                }
                names[name] = (section switch { "smartGroups" => "smart group", "webGroups" => "web group", _ => "threat group" }, key.Location);
                if (value is not YMapping body)
                {
                    Error("bad-type", value, $"group '{name}' needs a mapping", section switch
                    {
                        "smartGroups" => "for example { cidrs: [10.20.1.0/24] }",
                        "webGroups" => "for example { domains: [api.example.com] }",
                        _ => "for example { feeds: [feeds/threat-ips.txt] }",
                    });
                    continue;
                }
                if (read(name, body) is { } group) result.Add(group);
            }
            return result;
        }

        private SmartGroup? ReadSmartGroup(string name, YMapping body, ServiceTagsSource? source, ServiceTagsFile? tagsFile)
        {
            CheckKeys(body, SmartGroupKeys, $"smart group '{name}'");
            var cidrs = new List<Located<IpPrefix>>();
            foreach (var item in List(Get(body, "cidrs"), "cidrs"))
            {
                if (String(item, "a CIDR") is not { } text) continue;
                if (IpPrefix.TryParse(text, out var prefix, out var error)) cidrs.Add(new(prefix, item.Location));
                else Error("bad-cidr", item, $"'{text}' is not a CIDR: {error}");
            }
            Located<string>? tag = null;
            string? resolvedName = null;
            var servicePrefixes = new List<IpPrefix>();
            if (Get(body, "serviceTag") is { } tagNode && String(tagNode, "serviceTag") is { } tagName)
            {
                // The tag is carried on as Microsoft spells it (the file's spelling, else the built-in list's), whatever the case typed.
                tag = new(tagName, tagNode.Location);
                if (source?.File is null)
                {
                    diagnostics.Warning("service-tags-unresolved", tagNode.Location,
                        $"service tag '{tagName}' cannot be enforced by the Corral gateway: no serviceTags file is configured",
                        "set serviceTags.file to Microsoft's weekly ServiceTags_Public_*.json; Aviatrix resolves the tag itself");
                    // The built-in list is the Public cloud's; another cloud's tags are taken as written and pinned as the policy says.
                    var catalog = ServiceTagCatalog.BuiltIn;
                    var publicCloud = source?.Cloud is null or "Public";
                    if (publicCloud && catalog.Spelling(tagName) is { } spelled)
                    {
                        tag = new(spelled, tagNode.Location);
                        resolvedName = catalog.Resolve(spelled, source?.Region);
                    }
                    else if (publicCloud)
                        diagnostics.Warning("unknown-service-tag", tagNode.Location,
                            $"service tag '{tagName}' is not in Corral's built-in list (Microsoft's file, changeNumber {catalog.ChangeNumber})",
                            Hint(tagName, catalog.Names) ?? "check the spelling, or set serviceTags.file to a current ServiceTags_Public_*.json");
                }
                else if (tagsFile is not null)
                {
                    if (tagsFile.Find(tagName, source.Region) is { } entry)
                    {
                        tag = new(tagsFile.Tags.TryGetValue(tagName, out var named) ? named.Name : tagName, tagNode.Location);
                        resolvedName = entry.Name;
                        servicePrefixes.AddRange(entry.Prefixes);
                    }
                    else
                    {
                        Error("unknown-service-tag", tagNode, $"service tag '{tagName}' is not in {source.File}",
                            Hint(tagName, tagsFile.Tags.Keys) ?? "check the spelling against the file's values[].name");
                    }
                }
            }
            if (cidrs.Count == 0 && tag is null && !Has(body, "cidrs"))
                Error("empty-group", body, $"smart group '{name}' needs 'cidrs' or 'serviceTag'");
            return new SmartGroup(name, body.Location, cidrs, tag, resolvedName, servicePrefixes);
        }

        private WebGroup? ReadWebGroup(string name, YMapping body)
        {
            CheckKeys(body, WebGroupKeys, $"web group '{name}'");
            var domains = new List<Located<DomainPattern>>();
            foreach (var item in List(Get(body, "domains"), "domains"))
            {
                if (String(item, "a domain") is not { } text) continue;
                if (DomainPattern.TryParse(text, out var pattern, out var error)) domains.Add(new(pattern, item.Location));
                else Error("bad-domain", item, $"'{text}' is not a valid domain: {error}");
            }
            var urls = new List<Located<UrlPattern>>();
            foreach (var item in List(Get(body, "urls"), "urls"))
            {
                if (String(item, "a URL filter") is not { } text) continue;
                if (UrlPatterns.TryParse(text, out var url, out var error)) urls.Add(new(url!, item.Location));
                else Error("bad-url", item, $"'{text}' is not a URL filter: {error}", "write host/path, e.g. api.github.com/repos/contoso/*");
            }
            if (!Has(body, "domains") && !Has(body, "urls"))
                Error("empty-group", body, $"web group '{name}' needs 'domains' or 'urls'");
            return new WebGroup(name, body.Location, domains, urls);
        }

        private ThreatGroup? ReadThreatGroup(string name, YMapping body)
        {
            CheckKeys(body, ThreatGroupKeys, $"threat group '{name}'");
            var feeds = new List<ThreatFeed>();
            var feedList = List(Get(body, "feeds"), "feeds");
            if (feedList.Count == 0) Error("empty-group", body, $"threat group '{name}' needs 'feeds': a list of feed files");
            foreach (var item in feedList)
            {
                if (String(item, "a feed file path") is not { } relative) continue;
                var full = Path.GetFullPath(Path.Combine(baseDirectory, relative));
                var display = DisplayPath(full);
                if (!File.Exists(full))
                {
                    Error("feed-not-found", item, $"feed file '{relative}' not found (looked for {display})",
                        "create it: one IP, CIDR or domain a line, '#' for comments");
                    continue;
                }
                if (!BoundedFile.TryRead(full, FeedReader.MaxBytes, out var bytes, out var problem))
                {
                    Error("feed-unreadable", item, $"feed file '{relative}' {problem}");
                    continue;
                }
                var (prefixes, domains) = FeedReader.Parse(bytes, display, diagnostics, ref _feedEntryBudget);
                hash.AppendData(bytes); // the bytes parsed are the bytes hashed
                InputFiles.Add(full);
                feeds.Add(new ThreatFeed(relative, item.Location, prefixes, domains));
            }
            return new ThreatGroup(name, body.Location, feeds);
        }

        private ServiceTagsSource? ReadServiceTagsSource(YNode? node, out ServiceTagsFile? tagsFile)
        {
            tagsFile = null;
            if (node is null || node is YScalar { IsNull: true }) return null;
            if (node is not YMapping map)
            {
                Error("bad-type", node, "'serviceTags' is a mapping", "serviceTags: { file: servicetags/ServiceTags_Public.json, region: eastus }");
                return null;
            }
            CheckKeys(map, ServiceTagsKeys, "serviceTags");
            var relative = Get(map, "file") is { } f and not YScalar { IsNull: true } ? String(f, "file") : null;
            var region = Get(map, "region") is { } r and not YScalar { IsNull: true } ? String(r, "region") : null;
            var cloud = AzureClouds[0];
            if (Get(map, "cloud") is { } c and not YScalar { IsNull: true } && String(c, "cloud") is { } cloudText)
            {
                if (AzureClouds.FirstOrDefault(k => string.Equals(k, cloudText, StringComparison.OrdinalIgnoreCase)) is { } known) cloud = known;
                else Error("bad-value", c, $"'cloud' must be {string.Join(" | ", AzureClouds)}, not '{cloudText}'",
                    Hint(cloudText, AzureClouds) ?? "the value of the Service Tags file's own 'cloud' field");
            }
            if (relative is not null)
            {
                var full = Path.GetFullPath(Path.Combine(baseDirectory, relative));
                if (!File.Exists(full))
                    Error("service-tags-not-found", Get(map, "file")!, $"service tags file '{relative}' not found (looked for {DisplayPath(full)})",
                        "download ServiceTags_Public_*.json from Microsoft, or remove 'file' to let only Aviatrix resolve tags");
                else
                {
                    if (!BoundedFile.TryRead(full, ServiceTagsReader.MaxBytes, out var bytes, out var problem))
                        Error("service-tags-unreadable", Get(map, "file")!, $"service tags file '{relative}' {problem}");
                    else
                    {
                        tagsFile = ServiceTagsReader.Parse(bytes, DisplayPath(full), diagnostics);
                        hash.AppendData(bytes);
                        InputFiles.Add(full);
                        // A file of another Azure cloud has other ranges under the same tag names: refuse it rather than enforce the wrong ones.
                        if (tagsFile?.Cloud is { } fileCloud && !string.Equals(fileCloud, cloud, StringComparison.OrdinalIgnoreCase))
                        {
                            Error("service-tags-cloud", Get(map, "file")!,
                                $"service tags file '{relative}' is for cloud '{fileCloud}' (at {tagsFile.CloudLocation}), but the policy is for '{cloud}'",
                                Get(map, "cloud") is null
                                    ? $"serviceTags.cloud defaults to {AzureClouds[0]}: set 'cloud: {fileCloud}' if that is the cloud you deploy to, or download the {cloud} file"
                                    : $"download the {cloud} file, or set 'cloud: {fileCloud}'");
                            tagsFile = null;
                        }
                    }
                }
            }
            return new ServiceTagsSource(relative, region?.ToLowerInvariant(), map.Location, tagsFile?.ChangeNumber, cloud);
        }

        // ---- payload inspection -------------------------------------------------------------------------

        /// <summary>An optional top-level section that is a mapping: null when absent, null (and an error) when not a mapping.</summary>
        private YMapping? Section(YNode? node, string name, string[] keys, string example)
        {
            if (node is null || node is YScalar { IsNull: true }) return null;
            if (node is not YMapping map)
            {
                Error("bad-type", node, $"'{name}' is a mapping", example);
                return null;
            }
            CheckKeys(map, keys, name);
            return map;
        }

        private InspectionSettings ReadInspection(YNode? node)
        {
            if (Section(node, "inspection", InspectionKeys, "inspection: { patterns: [private-key, jwt], custom: [{ name: x, regex: '...' }] }") is not { } map)
                return InspectionSettings.Default;
            var builtIns = BuiltInPatterns.Names;
            if (Get(map, "patterns") is { } patternsNode)
            {
                var chosen = new List<string>();
                foreach (var item in List(patternsNode, "patterns"))
                {
                    if (String(item, "a pattern name") is not { } patternName) continue;
                    if (BuiltInPatterns.All.ContainsKey(patternName)) chosen.Add(patternName);
                    else Error("unknown-pattern", item, $"unknown built-in pattern '{patternName}'",
                        Hint(patternName, BuiltInPatterns.Names) ?? $"built-ins: {string.Join(", ", BuiltInPatterns.Names)}; add your own under 'custom'");
                }
                builtIns = chosen.Distinct().ToList();
            }
            var custom = new List<SecretPattern>();
            foreach (var item in List(Get(map, "custom"), "custom"))
            {
                if (item is not YMapping entry)
                {
                    Error("bad-type", item, "a custom pattern is { name: ..., regex: ... }");
                    continue;
                }
                CheckKeys(entry, CustomPatternKeys, "a custom pattern");
                var patternName = Get(entry, "name") is { } n ? String(n, "name") : null;
                var regex = Get(entry, "regex") is { } r ? String(r, "regex") : null;
                if (patternName is null || regex is null)
                {
                    Error("missing-key", entry, "a custom pattern needs 'name' and 'regex'");
                    continue;
                }
                if (BuiltInPatterns.All.ContainsKey(patternName) || custom.Any(c => c.Name == patternName))
                    Error("duplicate-pattern", Get(entry, "name")!, $"pattern name '{patternName}' is already used");
                else if (Inspection.PayloadInspector.ValidatePattern(regex) is { } problem)
                    Error("bad-regex", Get(entry, "regex")!, $"pattern '{patternName}' is not a usable regular expression: {problem}",
                        "patterns run without backtracking: no lookarounds or backreferences");
                else custom.Add(new SecretPattern(patternName, regex, entry.Location));
            }
            var scanAuthorization = Get(map, "scanAuthorizationHeader") is { } sa && (Bool(sa, "scanAuthorizationHeader") ?? false);
            return new InspectionSettings(builtIns, custom, scanAuthorization);
        }

        // ---- the gateway's resolver ----------------------------------------------------------------------

        private DnsSettings ReadDns(YNode? node)
        {
            if (Section(node, "dns", DnsKeys, "dns: { mode: enforce }") is not { } map) return DnsSettings.Default;
            var mode = Get(map, "mode") is { } m ? Enum(m, "mode", ModeWords) ?? DnsSettings.Default.Mode : DnsSettings.Default.Mode;
            return new DnsSettings(mode);
        }

        // ---- rules --------------------------------------------------------------------------------------

        private List<Rule> ReadRules(YNode? node, YMapping top)
        {
            var rules = new List<Rule>();
            if (node is null)
            {
                Error("missing-key", top, "missing 'rules'", "a policy needs at least one rule; see 'corral init'");
                return rules;
            }
            if (node is not YSequence seq)
            {
                Error("bad-type", node, "'rules' is a list of rules");
                return rules;
            }
            var names = new Dictionary<string, SourceLocation>(StringComparer.Ordinal);
            var priorities = new Dictionary<int, (string Name, SourceLocation At)>();
            foreach (var item in seq.Items)
            {
                if (item is not YMapping body)
                {
                    Error("bad-type", item, "each rule is a mapping", "{ name: …, priority: …, action: permit|deny, … }");
                    continue;
                }
                if (ReadRule(body) is not { } rule) continue;
                if (names.TryGetValue(rule.Name, out var firstName))
                    Error("duplicate-rule", rule.LocationOf("name"), $"rule name '{rule.Name}' is used twice", $"first at {firstName}");
                else names[rule.Name] = rule.LocationOf("name");
                var priorityUsable = rule.FieldLocations.ContainsKey("priority") &&
                                     !diagnostics.Items.Any(d => d.Code == "bad-priority" && d.Location == rule.LocationOf("priority"));
                if (!priorityUsable) { } // already reported; a second error about priority 0 would only confuse
                else if (priorities.TryGetValue(rule.Priority, out var other))
                    Error("duplicate-priority", rule.LocationOf("priority"), $"priority {rule.Priority} is also rule '{other.Name}''s",
                        $"at {other.At}; priorities decide the order, so each must be unique");
                else priorities[rule.Priority] = (rule.Name, rule.LocationOf("priority"));
                rules.Add(rule);
            }
            return rules;
        }

        private Rule? ReadRule(YMapping body)
        {
            CheckKeys(body, RuleKeys, "a rule");
            var fields = body.Entries.ToDictionary(e => e.Key.Value, e => e.Value.Location, StringComparer.Ordinal);
            var name = Get(body, "name") is { } n ? String(n, "name") : null;
            if (name is null)
            {
                Error("missing-key", body, "rule has no 'name'");
                return null;
            }
            if (!NamePattern().IsMatch(name)) Error("bad-name", Get(body, "name")!, $"rule name '{name}' must be letters, digits, '.', '_' or '-'");
            var priority = 0;
            if (Get(body, "priority") is { } p)
            {
                if (!TryInt(p, out priority) || priority < 0 || priority > 1_000_000)
                    Error("bad-priority", p, $"priority '{ScalarText(p)}' must be a whole number from 0 to 1000000");
            }
            else Error("missing-key", body, $"rule '{name}' has no 'priority'", "rules are tried by ascending priority");

            RuleAction action = RuleAction.Deny;
            if (Get(body, "action") is { } a) action = Enum(a, "action", ActionWords) ?? RuleAction.Deny;
            else Error("missing-key", body, $"rule '{name}' has no 'action'", "action: permit or action: deny");

            var source = Names(Get(body, "source"), "source");
            var destination = Names(Get(body, "destination"), "destination");
            var webGroups = Names(Get(body, "webGroups"), "webGroups");
            var ports = ReadPorts(Get(body, "ports"));
            var protocolDefault = ports.Count > 0 || webGroups.Count > 0 ? RuleProtocol.Tcp : RuleProtocol.Any;
            var protocol = Get(body, "protocol") is { } pr ? Enum(pr, "protocol", ProtocolWords) ?? protocolDefault : protocolDefault;
            var decrypt = Get(body, "decrypt") is { } d ? Enum(d, "decrypt", DecryptWords) ?? DecryptPolicy.NotAllowed : DecryptPolicy.NotAllowed;
            var mode = Get(body, "mode") is { } m ? Enum(m, "mode", ModeWords) ?? RuleMode.Enforce : RuleMode.Enforce;
            var logging = Get(body, "logging") is not { } lg || (Bool(lg, "logging") ?? true);
            var requireTls = Get(body, "requireTls") is { } rt && (Bool(rt, "requireTls") ?? false);

            if (decrypt == DecryptPolicy.Allowed && action == RuleAction.Deny)
                Error("decrypt-on-deny", Get(body, "decrypt")!, $"rule '{name}' denies, so it cannot decrypt", "remove 'decrypt: allowed' or make the rule a permit");
            if (decrypt == DecryptPolicy.Allowed && protocol is RuleProtocol.Udp or RuleProtocol.Icmp)
                Error("decrypt-needs-tcp", Get(body, "decrypt")!, $"rule '{name}' decrypts, which needs protocol tcp or any");
            if (protocol == RuleProtocol.Icmp && ports.Count > 0)
                Error("ports-with-icmp", Get(body, "ports")!, $"rule '{name}' is ICMP, which has no ports", "remove 'ports' or use protocol tcp/udp");
            if (webGroups.Count > 0 && protocol is RuleProtocol.Udp or RuleProtocol.Icmp)
                Error("webgroups-need-tcp", Get(body, "protocol")!, $"rule '{name}' uses web groups, which match TLS SNI or HTTP Host over TCP");
            if (requireTls && protocol is RuleProtocol.Udp or RuleProtocol.Icmp)
                Error("tls-needs-tcp", Get(body, "requireTls")!, $"rule '{name}' requires TLS, which needs protocol tcp or any");

            var mcp = Get(body, "mcp") is { } mcpNode ? ReadMcp(mcpNode, name) : null;
            if (mcp is not null && (action != RuleAction.Permit || decrypt != DecryptPolicy.Allowed))
                Error("mcp-needs-decrypt", Get(body, "mcp")!, $"rule '{name}' has an mcp section, but the gateway sees MCP calls only in flows it may decrypt",
                    action == RuleAction.Permit ? "add 'decrypt: allowed' to the rule" : "mcp belongs on a permit with 'decrypt: allowed'");

            return new Rule(name, body.Location, priority, source, destination, webGroups, action, protocol, ports, decrypt, mode, logging, requireTls, fields)
            {
                ModeSite = PolicyEditor.SiteOf(body, bom),
                Mcp = mcp,
            };

        }

        private static readonly (string, ToolPinning)[] PinWords = [("false", ToolPinning.Off), ("true", ToolPinning.Flag), ("enforce", ToolPinning.Enforce)];

        private McpRules? ReadMcp(YNode node, string rule)
        {
            if (node is not YMapping map)
            {
                Error("bad-type", node, $"'mcp' of rule '{rule}' is a mapping", "mcp: { tools: [search_docs], pinTools: true }");
                return null;
            }
            CheckKeys(map, McpKeys, $"the mcp section of rule '{rule}'");
            var tools = McpNames(Get(map, "tools"), "tools", "a tool name");
            var methods = McpNames(Get(map, "methods"), "methods", "a JSON-RPC method");
            foreach (var m in methods.Where(m => m.Value == McpRules.ToolsCall))
                Error("mcp-method-tools-call", m.Location, "tools/call is decided by 'tools', not 'methods'", "list the tools the agent may call under 'tools'");
            var pin = Get(map, "pinTools") is { } p ? Enum(p, "pinTools", PinWords) ?? ToolPinning.Off : ToolPinning.Off;
            return new McpRules(tools, pin, methods, map.Location);
        }

        private List<Located<string>> McpNames(YNode? node, string field, string what)
        {
            var names = new List<Located<string>>();
            foreach (var item in List(node, field))
            {
                if (String(item, what) is not { } value) continue;
                if (value.Length == 0 || value.Length > 128 || value.Any(char.IsControl))
                    Error("bad-name", item, $"'{Printable(value)}' is not usable as {what}", "1 to 128 printable characters");
                else if (names.Any(n => n.Value == value))
                    Error("duplicate-name", item, $"{what} '{value}' is listed twice in mcp.{field}");
                else names.Add(new Located<string>(value, item.Location));
            }
            return names;
        }

        private static string Printable(string text) => new(text.Select(c => char.IsControl(c) ? '?' : c).ToArray());

        private List<PortRange> ReadPorts(YNode? node)
        {
            var ports = new List<PortRange>();
            foreach (var item in List(node, "ports"))
            {
                var text = ScalarText(item);
                if (item is YScalar scalar && TryPortRange(scalar.Value, out var range)) ports.Add(range);
                else Error("bad-port", item, $"'{text}' is not a port", "a number from 1 to 65535, or a range such as 8000-8100");
            }
            if (ports.Count > MaxPortRanges)
                Error("too-many-ports", node!, $"{ports.Count} port ranges; Aviatrix takes at most {MaxPortRanges} a rule", "merge adjacent ports into ranges");
            return ports;
        }

        private static bool TryPortRange(string text, out PortRange range)
        {
            range = default;
            var dash = text.IndexOf('-');
            var lowText = dash < 0 ? text : text[..dash];
            var highText = dash < 0 ? text : text[(dash + 1)..];
            if (!int.TryParse(lowText.Trim(), System.Globalization.NumberStyles.None, null, out var low) ||
                !int.TryParse(highText.Trim(), System.Globalization.NumberStyles.None, null, out var high)) return false;
            if (low < 1 || high > 65535 || low > high) return false;
            range = new PortRange(low, high);
            return true;
        }

        private void CheckRuleReferences(List<Rule> rules)
        {
            foreach (var rule in rules)
            {
                foreach (var s in rule.Source) CheckReference(s, "source", _groupNames, sourceOnly: true);
                foreach (var d in rule.Destination) CheckReference(d, "destination", _groupNames, sourceOnly: false);
                foreach (var w in rule.WebGroups)
                {
                    if (_webGroupNames.ContainsKey(w.Value)) continue;
                    if (_groupNames.TryGetValue(w.Value, out var g) || PolicyDocument.BuiltInGroups.Contains(w.Value))
                        diagnostics.Error("wrong-group-kind", w.Location, $"'{w.Value}' is a {(g.Kind ?? "built-in group")}, not a web group", "move it to 'destination'");
                    else
                        diagnostics.Error("unknown-group", w.Location, $"unknown web group '{w.Value}'", Hint(w.Value, _webGroupNames.Keys));
                }
            }
        }

        // URL filters see paths only inside decrypted TLS, so a rule using them must be a permit that may decrypt.
        private void CheckUrlFiltersCanBeSeen(List<Rule> rules, List<WebGroup> webGroups)
        {
            var withUrls = webGroups.Where(w => w.Urls.Count > 0).Select(w => w.Name).ToHashSet(StringComparer.Ordinal);
            foreach (var rule in rules)
            foreach (var reference in rule.WebGroups.Where(w => withUrls.Contains(w.Value)))
            {
                if (rule.Action == RuleAction.Deny)
                    diagnostics.Error("url-filter-needs-decrypt", reference.Location,
                        $"web group '{reference.Value}' has URL filters, but rule '{rule.Name}' denies and so cannot decrypt to see paths",
                        "deny by domain in a web group without 'urls', or permit the URLs you want in a decrypting rule");
                else if (rule.Decrypt != DecryptPolicy.Allowed)
                    diagnostics.Error("url-filter-needs-decrypt", reference.Location,
                        $"web group '{reference.Value}' has URL filters, but rule '{rule.Name}' does not decrypt",
                        "add 'decrypt: allowed' to the rule, or move the URLs to a group used by a decrypting rule");
            }
        }

        private void CheckReference(Located<string> reference, string field, Dictionary<string, (string Kind, SourceLocation At)> groups, bool sourceOnly)
        {
            var name = reference.Value;
            if (PolicyDocument.BuiltInGroups.Contains(name)) return;
            if (groups.TryGetValue(name, out var group))
            {
                if (sourceOnly && group.Kind == "threat group")
                    diagnostics.Error("wrong-group-kind", reference.Location, $"'{name}' is a threat group; sources are smart groups", "threat groups belong in 'destination'");
                return;
            }
            if (_webGroupNames.ContainsKey(name))
            {
                diagnostics.Error("wrong-group-kind", reference.Location, $"'{name}' is a web group, not a {field} group", "move it to 'webGroups'");
                return;
            }
            diagnostics.Error("unknown-group", reference.Location, $"unknown group '{name}' in {field}",
                Hint(name, groups.Keys.Concat(PolicyDocument.BuiltInGroups)) ?? "define it under smartGroups or threatGroups");
        }

        // ---- node helpers -------------------------------------------------------------------------------

        private static readonly (string, RuleAction)[] ActionWords = [("permit", RuleAction.Permit), ("deny", RuleAction.Deny)];
        private static readonly (string, RuleProtocol)[] ProtocolWords = [("any", RuleProtocol.Any), ("tcp", RuleProtocol.Tcp), ("udp", RuleProtocol.Udp), ("icmp", RuleProtocol.Icmp)];
        private static readonly (string, DecryptPolicy)[] DecryptWords = [("not-allowed", DecryptPolicy.NotAllowed), ("allowed", DecryptPolicy.Allowed)];
        private static readonly (string, RuleMode)[] ModeWords = [("enforce", RuleMode.Enforce), ("watch", RuleMode.Watch)];

        private T? Enum<T>(YNode node, string field, (string Word, T Value)[] words) where T : struct
        {
            var text = node is YScalar s ? s.Value : null;
            foreach (var (word, value) in words)
                if (string.Equals(text, word, StringComparison.Ordinal)) return value;
            var choices = string.Join(" | ", words.Select(w => w.Word));
            var hint = text is null ? null : Hint(text, words.Select(w => w.Word));
            Error("bad-value", node, $"'{field}' must be {choices}, not '{ScalarText(node)}'", hint);
            return null;
        }

        private bool? Bool(YNode node, string field)
        {
            if (node is YScalar { Value: "true" }) return true;
            if (node is YScalar { Value: "false" }) return false;
            Error("bad-value", node, $"'{field}' must be true or false, not '{ScalarText(node)}'");
            return null;
        }

        private string? String(YNode node, string what)
        {
            if (node is YScalar { IsNull: false } s) return s.Value;
            Error("bad-type", node, $"expected {what} as a single value");
            return null;
        }

        private List<Located<string>> Names(YNode? node, string field) =>
            List(node, field).Select(n => String(n, "a group name") is { } s ? new Located<string>(s, n.Location) : null)
                .OfType<Located<string>>().ToList();

        /// <summary>A list field; a single scalar is read as a list of one, a null as empty.</summary>
        private IReadOnlyList<YNode> List(YNode? node, string field)
        {
            switch (node)
            {
                case null or YScalar { IsNull: true }: return [];
                case YSequence seq: return seq.Items;
                case YScalar scalar: return [scalar];
                default:
                    Error("bad-type", node, $"'{field}' is a list");
                    return [];
            }
        }

        private static bool TryInt(YNode node, out int value)
        {
            value = 0;
            return node is YScalar { IsPlain: true } s && int.TryParse(s.Value, System.Globalization.NumberStyles.AllowLeadingSign, null, out value);
        }

        private static YNode? Get(YMapping map, string key)
        {
            foreach (var (k, v) in map.Entries) if (k.Value == key) return v;
            return null;
        }

        private static bool Has(YMapping map, string key) => Get(map, key) is not null;

        private void CheckKeys(YMapping map, string[] known, string what)
        {
            foreach (var (key, _) in map.Entries)
            {
                if (known.Contains(key.Value)) continue;
                Error("unknown-key", key, $"unknown key '{key.Value}' in {what}",
                    Hint(key.Value, known) ?? $"expected one of: {string.Join(", ", known)}");
            }
        }

        private static string ScalarText(YNode node) => node switch
        {
            YScalar s => s.Value,
            YSequence => "a list",
            _ => "a mapping",
        };

        private void Error(string code, YNode at, string message, string? hint = null) => diagnostics.Error(code, at.Location, message, hint);

        private void Error(string code, SourceLocation at, string message, string? hint = null) => diagnostics.Error(code, at, message, hint);

        private static string DisplayPath(string full)
        {
            var relative = Path.GetRelativePath(Environment.CurrentDirectory, full);
            return relative.StartsWith("..", StringComparison.Ordinal) ? full : relative;
        }
    }
}

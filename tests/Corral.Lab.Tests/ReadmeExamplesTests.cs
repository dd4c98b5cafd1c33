using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using Corral.Testing;

namespace Corral.Lab.Tests;

/// <summary>
/// The README's commands, run as written: every <c>```sh</c> block after the set-up block, command by command and in
/// order, in one bash session in a temp work folder (real `corral` processes, a real gateway and stand-in, real
/// curl), each checked for its exit status and the output its comment promises. The session runs in network and
/// PID namespaces of its own: its fixed ports (3128, 9901, 127.0.0.9:443) meet nothing else on the machine, its
/// traffic can reach nothing but its own loopback, and everything it left running ends with it.
/// <c>```text</c> and <c>```json</c> blocks are output samples and are not run. `scripts/corral` is a wrapper around the
/// `corral` this test project builds (the real script publishes the same program).
/// </summary>
public sealed partial class ReadmeExamplesTests
{
    /// <summary>What each README command must do, in README order: the start of its text, exit status, what it prints.</summary>
    private static readonly (string Starts, int Exit, string[] Prints)[] Expected =
    [
        // Five minutes with Corral
        ("scripts/corral init --template azure-foundry --agent-subnet 10.20.1.0/24", 0, ["wrote corral.yaml"]),
        ("scripts/corral check corral.yaml", 0, ["corral.yaml: ok: 6 rules"]),
        ("scripts/corral explain --src 10.20.1.5 --dst mcr.microsoft.com", 0, ["verdict: permit by allow-aca-fqdn"]),
        ("scripts/corral explain --src 10.20.1.5 --dst mcp.contoso.com --resolved 10.30.0.7", 0, ["verdict: deny by deny-east-west"]),
        ("scripts/corral explain --src 10.20.1.5 --dst attacker.example --json", 0,
            ["""{"action":"deny","rule":"default-deny-internet","priority":5,"enforced":false,"decrypt":false,"reason":"matched rule 'default-deny-internet' in watch mode: logged, not enforced"}"""]),
        // Run the gateway
        ("scripts/corral init --template azure-foundry --agent-subnet 127.0.0.1/32", 0, ["wrote try.yaml"]),
        ("(umask 077; echo 'lab-mcp-token-7f3a9c' > mcp.token)", 0, []),
        ("printf 'credentials:", 0, []),
        ("scripts/corral ca init --out corral-ca --constrain-to try.yaml", 0, ["constrained to: mcp.contoso.com"]),
        ("scripts/corral lab standin", 0, []),
        ("echo '127.0.0.9", 0, []),
        ("until [ -s standin-ca.crt ]", 0, ["stand-in for mcp.contoso.com, docs.contoso.com, exfil.attacker.example on https://127.0.0.9:443"]),
        ("try=", 0, []),
        ("scripts/corral gateway try.yaml", 0, []),
        ("until (: </dev/tcp/127.0.0.1/3128)", 0, []),
        ("export HTTPS_PROXY=", 0, []),
        ("curl -s --cacert agent-trust.pem https://mcp.contoso.com/tools", 0, ["""{"standIn":"mcp.contoso.com","method":"GET","path":"/tools","bodyBytes":0}"""]),
        ("curl -s --cacert agent-trust.pem -d 'key=", 0, ["""{"error":"refused_by_gateway","check":"payload-inspection","""]),
        ("curl -s --cacert agent-trust.pem -H 'Authorization: Bearer corral-cred-mcp-token'", 0, ["""{"standIn":"mcp.contoso.com","method":"GET","path":"/tools","bodyBytes":0,"authorization":"Bearer lab-...9c"}"""]),
        ("curl -s --cacert agent-trust.pem -d 'note=", 0, ["""{"error":"refused_by_gateway","check":"credential-exfiltration","""]),
        ("curl -sS --cacert agent-trust.pem https://exfil.attacker.example/", 56, ["CONNECT tunnel failed, response 403"]),
        ("unset HTTPS_PROXY; kill $gateway; wait $gateway", 0, []),
        ("grep -c '\"event\":\"decision\"' flows.jsonl", 0, [WholeLine + "5"]),
        // Operate it live: from watch to enforce
        ("umask 077;", 0, []),
        ("scripts/corral init --template azure-foundry --agent-subnet 127.0.0.1/32 --tool-fqdn mcp.contoso.com -o watch.yaml", 0, ["wrote watch.yaml"]),
        ("scripts/corral gateway watch.yaml", 0, []),
        ("until curl -sf 127.0.0.1:9901/readyz", 0, []),
        ("for host in", 0, ["""{"standIn":"docs.contoso.com","method":"GET","path":"/","bodyBytes":0}""", """{"standIn":"exfil.attacker.example","""]),
        ("curl -s 127.0.0.1:9901/ |", 0, ["<title>Corral gateway</title>"]),
        ("curl -s 127.0.0.1:9901/metrics", 0, ["corral_gateway_flows_total{", "enforced=\"false\",rule=\"default-deny-internet\"} 3"]),
        ("curl -s 127.0.0.1:9901/api/rules/default-deny-internet/impact", 0, ["\"permit_to_deny\":3"]),
        ("sed 's/, mode: watch//' watch.yaml > enforce.yaml", 0, []),
        ("scripts/corral replay enforce.yaml --flows watch-flows.jsonl --public-standin 127.0.0.9/32 ", 0, ["permit -> deny (would now be blocked): 3", "exfil.attacker.example"]),
        ("scripts/corral suggest enforce.yaml --flows watch-flows.jsonl --rule default-deny-internet --public-standin 127.0.0.9/32 ", 0,
            ["- docs.contoso.com", "Held back", "exfil.attacker.example  seen in one flow only"]),
        ("scripts/corral suggest enforce.yaml --flows watch-flows.jsonl --rule default-deny-internet --public-standin 127.0.0.9/32 --write", 0,
            ["Wrote 1 entry to web group 'foundry-tool-calls' in enforce.yaml"]),
        ("scripts/corral replay enforce.yaml --flows watch-flows.jsonl --public-standin 127.0.0.9/32 --fail-on permit-to-deny --markdown", 3,
            ["**1** would now be blocked", "`exfil.attacker.example (127.0.0.9):443` ×1"]),
        ("curl -s -X POST", 0, ["""{"rule":"default-deny-internet","mode":"enforce","""]),
        ("curl -s -X PUT", 0, ["\"changed\":true"]),
        ("HTTPS_PROXY=http://127.0.0.1:3128 curl -sS --cacert agent-trust.pem https://exfil.attacker.example/", 56, ["CONNECT tunnel failed, response 403"]),
        ("kill $gateway $standin; wait", 0, []),
        // Deploy the same policy on Aviatrix
        ("scripts/corral terraform corral.yaml -o infra", 0, ["wrote infra/dcf.tf", "wrote infra/README.md"]),
    ];

    /// <summary>An expected print that must be a whole line of the output, not part of one.</summary>
    private const string WholeLine = "line:";

    private static string RepositoryRoot
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "Corral.slnx"))) return dir.FullName;
            throw new InvalidOperationException($"no Corral.slnx above {AppContext.BaseDirectory}");
        }
    }

    [Fact]
    public void TheReadmesBlocksAreCommandsOrMarkedAsSamples()
    {
        var readme = File.ReadAllText(Path.Combine(RepositoryRoot, "README.md"));
        var languages = Fence().Matches(readme).Select(m => m.Groups["lang"].Value).ToList();
        // Every block says what it is: sh is run (below), text and json are samples.
        Assert.All(languages, l => Assert.Contains(l, new[] { "sh", "text", "json" }));

        // The set-up block is the test suite itself and the lab (tested by LabRunTests): its scripts exist and parse.
        var setUp = Commands(SetUpBlocks(readme)[0]);
        Assert.Equal(["bash scripts/lab.sh", "bash scripts/test.sh"], setUp.Select(c => c.Split('#')[0].Trim()));
        foreach (var script in new[] { "scripts/lab.sh", "scripts/test.sh" })
            Assert.True(File.Exists(Path.Combine(RepositoryRoot, script)), $"{script} is named in the README's set-up");
    }

    /// <summary>
    /// Commands in the prose are held to what they say too: a corral command line parses (placeholders such as … and
    /// CODE stand for a value), a script named after bash exists, and a dotnet command is one of a set-up block's, which
    /// <see cref="TheDotnetToolInstallsAsWrittenFromTheRepositoryRootAndFromOutsideIt"/> runs.
    /// </summary>
    [Fact]
    public void EveryCommandInTheProseParsesOrIsRunByATest()
    {
        var readme = File.ReadAllText(Path.Combine(RepositoryRoot, "README.md"));
        var prose = ProseCommands(readme);
        Assert.Contains(prose, c => c.StartsWith("bash scripts/demo.sh", StringComparison.Ordinal));
        var setUp = SetUpBlocks(readme).SelectMany(Commands).Select(c => c.Split('#')[0].Trim()).ToList();
        var failures = new List<string>();
        foreach (var command in prose)
        {
            var words = command.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (words[0] is "scripts/corral" or "corral")
            {
                var args = words.Skip(1).Select(w => w == "…" ? "x" : w).ToArray();
                var errors = Corral.Cli.CorralCommand.Create(TextWriter.Null, TextWriter.Null).Parse(args).Errors;
                if (errors.Count > 0) failures.Add($"`{command}`: {string.Join("; ", errors.Select(e => e.Message))}");
            }
            else if (words[0] == "dotnet")
            {
                if (!setUp.Contains(command)) failures.Add($"`{command}` is in the prose only: put it in a set-up block, where a test runs it");
            }
            else
            {
                var script = words.SkipWhile(w => w != "bash").Skip(1).First();
                if (!File.Exists(Path.Combine(RepositoryRoot, script))) failures.Add($"`{command}`: {script} does not exist");
            }
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    /// <summary>
    /// The README's dotnet-tool block, run as written from the repository root (which maps every package source, so
    /// --add-source is refused there) and its install command from a folder outside the repository with the package
    /// folder's full path, as the README says. Each install goes to a home folder of its own; the packages the pack
    /// restores come from this machine's cache.
    /// </summary>
    [Fact]
    public async Task TheDotnetToolInstallsAsWrittenFromTheRepositoryRootAndFromOutsideIt()
    {
        var readme = File.ReadAllText(Path.Combine(RepositoryRoot, "README.md"));
        var block = Assert.Single(SetUpBlocks(readme), b => b.Contains("dotnet tool install", StringComparison.Ordinal));
        var commands = Commands(block).ToList();
        Assert.Equal(2, commands.Count);
        var install = commands[1].Split('#')[0].Trim();
        Assert.Contains(" --source artifacts/package ", install);

        var packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } set ? set
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var outside = Directory.CreateTempSubdirectory("corral-tool-");
        try
        {
            async Task<ProcessResult> Bash(string command, string workingDirectory, string home) =>
                await ProcessRunner.RunAsync("bash", ["-c", command], new RunOptions
                {
                    WorkingDirectory = workingDirectory, Timeout = TimeSpan.FromMinutes(10),
                    Environment = new Dictionary<string, string>
                    {
                        ["HOME"] = home, ["DOTNET_CLI_HOME"] = home, ["NUGET_PACKAGES"] = packages,
                        ["DOTNET_NOLOGO"] = "1", ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1", ["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1",
                    },
                });

            var rootHome = Directory.CreateDirectory(Path.Combine(outside.FullName, "home-root")).FullName;
            foreach (var command in commands)
            {
                var result = await Bash(command, RepositoryRoot, rootHome);
                Assert.True(result.ExitCode == 0, $"`{command}` from the repository root: exit {result.ExitCode}\n{result.Output}");
            }
            var tool = Path.Combine(rootHome, ".dotnet", "tools", "corral");
            var help = await Bash($"'{tool}' --help", outside.FullName, rootHome);
            Assert.True(help.ExitCode == 0, help.Output);
            Assert.Contains("Corral: contain AI agents' network egress", help.Stdout);

            // From outside the repository: the same command with the package folder's full path.
            var otherHome = Directory.CreateDirectory(Path.Combine(outside.FullName, "home-outside")).FullName;
            var fromOutside = install.Replace(" artifacts/package ", $" '{Path.Combine(RepositoryRoot, "artifacts", "package")}' ", StringComparison.Ordinal);
            var installed = await Bash(fromOutside, outside.FullName, otherHome);
            Assert.True(installed.ExitCode == 0, $"`{fromOutside}` from {outside.FullName}: exit {installed.ExitCode}\n{installed.Output}");
            Assert.True(File.Exists(Path.Combine(otherHome, ".dotnet", "tools", "corral")));

            // What a NuGet user sees: a readme, an icon and a description.
            var package = Assert.Single(Directory.GetFiles(Path.Combine(RepositoryRoot, "artifacts", "package"), "Corral.*.nupkg"));
            using var zip = System.IO.Compression.ZipFile.OpenRead(package);
            Assert.Contains(zip.Entries, e => e.FullName == "PACKAGE.md");
            Assert.Contains(zip.Entries, e => e.FullName == "icon.png");
            using var nuspec = new StreamReader(zip.Entries.Single(e => e.FullName == "Corral.nuspec").Open());
            var manifest = await nuspec.ReadToEndAsync();
            Assert.Contains("<readme>PACKAGE.md</readme>", manifest);
            Assert.Contains("<icon>icon.png</icon>", manifest);
            Assert.Contains("<description>Contain AI agents' network egress", manifest);
        }
        finally
        {
            outside.Delete(recursive: true);
        }
    }

    /// <summary>The README's sample of the lab's table has the columns, rule line and closing line the lab prints.</summary>
    [Fact]
    public void TheReadmesLabSampleHasTheColumnsTheLabPrints()
    {
        var readme = File.ReadAllText(Path.Combine(RepositoryRoot, "README.md"));
        var sample = Assert.Single(Fence().Matches(readme), m => m.Groups["body"].Value.StartsWith("== explicit mode ==", StringComparison.Ordinal))
            .Groups["body"].Value.Split('\n');

        var results = Corral.Lab.Scenarios.All.Select(s => new Corral.Lab.ScenarioResult(s.Number, s.Id, s.Title, "explicit", s.Expected,
            new string('o', 60), s.ExpectedRule, false, s.Owasp, 0, Corral.Lab.ScenarioOutcome.Pass)).ToList();
        var pass = new Corral.Lab.LabPass(Corral.Lab.LabMode.Explicit, "explicit proxy", TimeSpan.FromSeconds(1), results, []);
        var printed = new Corral.Lab.LabReport(DateTimeOffset.UnixEpoch, TimeSpan.FromSeconds(1), [pass]).ToTable().Split('\n');

        static string[] Columns(string line) => ColumnGap().Split(line.Trim());
        Assert.Equal(Columns(printed[1]), Columns(sample[1]));             // the header
        Assert.Equal(printed[2].TrimEnd(), sample[2].TrimEnd());           // the rule under it: every column as wide as printed
        var rows = sample.Skip(3).TakeWhile(l => l.Length > 0 && char.IsDigit(l[0])).ToList();
        Assert.Equal(Corral.Lab.Scenarios.All.Count, rows.Count);
        Assert.All(rows, r => Assert.Equal(Columns(printed[1]).Length, Columns(r).Length));
        Assert.Contains(sample, l => l.StartsWith("lab passed (", StringComparison.Ordinal));
    }

    [GeneratedRegex(@"\s{2,}")]
    private static partial Regex ColumnGap();

    [Fact]
    public async Task EveryReadmeCommandRunsAsWrittenAndDoesWhatItsCommentSays()
    {
        foreach (var tool in new[] { "curl", "unshare", "ip" })
            Assert.SkipWhen(FindOnPath(tool) is null, $"{tool} is not installed (scripts/install-test-deps.sh installs curl)");
        Assert.SkipWhen(Environment.UserName != "root", "the README's stand-in listens on port 443 and the test isolates it in namespaces of its own: run as root");

        var readme = File.ReadAllText(Path.Combine(RepositoryRoot, "README.md"));
        var commands = WalkThroughBlocks(readme).SelectMany(Commands).ToList();
        Assert.Equal(Expected.Length, commands.Count);
        for (var i = 0; i < commands.Count; i++)
            Assert.True(commands[i].StartsWith(Expected[i].Starts, StringComparison.Ordinal),
                $"README command {i + 1} is `{commands[i]}`; this test expects one starting `{Expected[i].Starts}`: update Expected with what it must do");

        var work = Directory.CreateTempSubdirectory("corral-readme-");
        try
        {
            var output = await RunInNamespacesAsync(work.FullName, commands);
            var results = Results(output);
            var failures = new List<string>();
            for (var i = 0; i < commands.Count; i++)
            {
                if (!results.TryGetValue(i + 1, out var result))
                {
                    failures.Add($"command {i + 1} never finished: `{commands[i]}`\n--- session output ---\n{Tail(output)}");
                    break;
                }
                var (exit, printed) = result;
                var lines = printed.Split('\n');
                var missing = Expected[i].Prints.Where(p => p.StartsWith(WholeLine, StringComparison.Ordinal)
                    ? !lines.Contains(p[WholeLine.Length..]) : !printed.Contains(p, StringComparison.Ordinal)).ToList();
                if (exit != Expected[i].Exit || missing.Count > 0)
                    failures.Add($"command {i + 1}: `{commands[i]}`\n  exit {exit} (expected {Expected[i].Exit}); missing: {string.Join(" | ", missing)}\n  printed:\n{Tail(printed)}");
            }
            Assert.True(failures.Count == 0, string.Join("\n\n", failures));

            // What reached the far end, as the stand-in printed it: the tool call and the watch-mode traffic did; the
            // request with a secret and every refused flow did not.
            Assert.Contains("stand-in: GET https://mcp.contoso.com/tools (0 bytes of body)", output);
            var reached = output.Split('\n').Select(l => l.IndexOf("stand-in: ", StringComparison.Ordinal) is var at and >= 0 ? l[at..] : null)
                .OfType<string>().ToList(); // wherever a line from another process left the cursor
            Assert.DoesNotContain(reached, l => l.Contains("/upload", StringComparison.Ordinal));
            // exfil.attacker.example: once, in watch mode; refused before and after.
            Assert.Single(reached, l => l.StartsWith("stand-in: GET https://exfil.attacker.example/", StringComparison.Ordinal));

            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(work.FullName, "admin.token")));
            // Everything the walk-through leaves in the repository root (the CA key, the token, flow logs, the module,
            // the try-out files) is ignored by git there.
            var leftBehind = work.EnumerateFileSystemInfos().Where(f => f.Name is not "scripts" and not "readme.sh")
                .Select(f => f is DirectoryInfo ? f.Name + "/" : f.Name).ToList(); // the slash: git matches a folder pattern only to a folder
            Assert.Contains("corral-ca/", leftBehind);
            if (FindOnPath("git") is not null)
                Assert.All(leftBehind, name => Assert.True(IsIgnoredByTheRepository(name), $"the README's walk-through leaves '{name}' in the repository root, and .gitignore does not name it"));
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    /// <summary>
    /// Runs the commands in one bash session inside new network and PID namespaces (`unshare --kill-child`: when the
    /// session ends or is killed, every process it started goes with it). A marker after each command carries its
    /// exit status.
    /// </summary>
    private static async Task<string> RunInNamespacesAsync(string work, IReadOnlyList<string> commands)
    {
        Directory.CreateDirectory(Path.Combine(work, "scripts"));
        var wrapper = Path.Combine(work, "scripts", "corral");
        File.WriteAllText(wrapper, $"#!/bin/sh\nexec dotnet '{Path.Combine(AppContext.BaseDirectory, "corral.dll")}' \"$@\"\n");
        File.SetUnixFileMode(wrapper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        var script = new StringBuilder("exec 2>&1 </dev/null\nip link set lo up || exit 99\n");
        for (var i = 0; i < commands.Count; i++)
            script.Append($"echo '@@@ begin {i + 1}'\n{commands[i]}\necho \"@@@ end {i + 1} $?\"\n");
        script.Append("kill $(jobs -p) 2>/dev/null; wait\n");
        File.WriteAllText(Path.Combine(work, "readme.sh"), script.ToString());

        var start = new ProcessStartInfo("unshare") { WorkingDirectory = work, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "--net", "--pid", "--fork", "--kill-child", "bash", "readme.sh" }) start.ArgumentList.Add(a);
        foreach (var v in new[] { "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy", "no_proxy", "CORRAL_ADMIN_TOKEN" })
            start.Environment.Remove(v);
        start.Environment["CORRAL_INVOKED_AS"] = "scripts/corral";
        using var session = Process.Start(start)!;
        var stdout = session.StandardOutput.ReadToEndAsync();
        var stderr = session.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        try
        {
            await session.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            session.Kill(entireProcessTree: true);
            await session.WaitForExitAsync();
            return await stdout + await stderr + "\n(the session was stopped after 5 minutes)";
        }
        return await stdout + await stderr;
    }

    private static bool IsIgnoredByTheRepository(string name)
    {
        var start = new ProcessStartInfo("git") { WorkingDirectory = RepositoryRoot, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "check-ignore", "-q", "--no-index", "--", name }) start.ArgumentList.Add(a);
        using var git = Process.Start(start)!;
        git.WaitForExit();
        return git.ExitCode == 0;
    }

    /// <summary>Each command's exit status and what was printed between its markers.</summary>
    private static Dictionary<int, (int Exit, string Printed)> Results(string output)
    {
        var results = new Dictionary<int, (int, string)>();
        var printed = new StringBuilder();
        foreach (var line in output.Split('\n'))
        {
            if (line.StartsWith("@@@ begin ", StringComparison.Ordinal)) printed.Clear();
            else if (EndMarker().Match(line) is { Success: true } end) // after output that did not end its line, too
                results[int.Parse(end.Groups["n"].Value)] = (int.Parse(end.Groups["exit"].Value), printed.Append(line[..end.Index]).ToString());
            else printed.Append(line).Append('\n');
        }
        return results;
    }

    private static List<string> ShellBlocks(string readme) =>
        Fence().Matches(readme).Where(m => m.Groups["lang"].Value == "sh").Select(m => m.Groups["body"].Value).ToList();

    /// <summary>Where the walk-through starts: the blocks before it set a machine up (the lab and tests, the dotnet tool).</summary>
    private const string WalkThroughHeading = "## Five minutes with Corral";

    private static List<string> SetUpBlocks(string readme) => ShellBlocks(readme[..readme.IndexOf(WalkThroughHeading, StringComparison.Ordinal)]);

    private static List<string> WalkThroughBlocks(string readme) => ShellBlocks(readme[readme.IndexOf(WalkThroughHeading, StringComparison.Ordinal)..]);

    /// <summary>The inline <c>`code`</c> spans of the prose (outside fenced blocks) that are command lines.</summary>
    private static List<string> ProseCommands(string readme) =>
        InlineCode().Matches(Fence().Replace(readme, "")).Select(m => m.Groups["code"].Value)
            .Where(c => c.StartsWith("scripts/corral ", StringComparison.Ordinal) || c.StartsWith("corral ", StringComparison.Ordinal)
                        || c.StartsWith("dotnet ", StringComparison.Ordinal) || c.Contains("bash ", StringComparison.Ordinal))
            .ToList();

    [GeneratedRegex(@"(?<!`)`(?<code>[^`\n]+)`(?!`)")]
    private static partial Regex InlineCode();

    /// <summary>A block's commands: continuation lines joined, comment-only and empty lines left out.</summary>
    private static IEnumerable<string> Commands(string block) =>
        block.Replace("\\\n", " ").Split('\n').Where(l => l.Trim().Length > 0 && !l.TrimStart().StartsWith('#'));

    private static string Tail(string text) => text.Length <= 4000 ? text : "…" + text[^4000..];

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);

    [GeneratedRegex(@"^```(?<lang>[a-z]*)\n(?<body>.*?)^```$", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex Fence();

    [GeneratedRegex(@"@@@ end (?<n>\d+) (?<exit>\d+)$")]
    private static partial Regex EndMarker();
}

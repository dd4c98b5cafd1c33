using System.Text.Json;
using Corral.Testing;

namespace Corral.Cli.Tests;

/// <summary>Runs the built `corral` program as a user would, in a fresh folder, and checks its output and exit codes.</summary>
public sealed class PolicyCommandTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private ProcessResult Run(params string[] args) => CorralProgram.Run(_temp.Path, args);

    [Fact]
    public void Init_then_check_exits_zero_and_explain_gives_the_documented_verdicts()
    {
        var init = Run("init", "--template", "azure-foundry", "--enforce", "-o", "p.yaml");
        Assert.Equal(0, init.ExitCode);
        Assert.True(File.Exists(Path.Combine(_temp.Path, "feeds", "threat-ips.txt")));

        var check = Run("check", "p.yaml");
        Assert.Equal(0, check.ExitCode);
        Assert.Contains("p.yaml: ok: 6 rules", check.Stdout);

        var evil = JsonDocument.Parse(Run("explain", "p.yaml", "--src", "10.20.1.5", "--dst", "evil.example", "--port", "443", "--json").Stdout).RootElement;
        Assert.Equal("deny", evil.GetProperty("action").GetString());
        Assert.Equal("default-deny-internet", evil.GetProperty("rule").GetString());
        Assert.Equal(5, evil.GetProperty("priority").GetInt32());
        Assert.True(evil.GetProperty("enforced").GetBoolean());

        var mcr = JsonDocument.Parse(Run("explain", "p.yaml", "--src", "10.20.1.5", "--dst", "mcr.microsoft.com", "--port", "443", "--json").Stdout).RootElement;
        Assert.Equal(("permit", "allow-aca-fqdn", false), (mcr.GetProperty("action").GetString(), mcr.GetProperty("rule").GetString(), mcr.GetProperty("decrypt").GetBoolean()));
        Assert.Equal(["action", "rule", "priority", "enforced", "decrypt", "reason"], mcr.EnumerateObject().Select(p => p.Name));
    }

    /// <summary>
    /// The pack as a new user first meets it: <c>init</c> then <c>check</c> gives exactly these warnings, each one short
    /// sentence that says what to do, and a pointer to where the long explanations are. The count is the agreed one.
    /// </summary>
    [Fact]
    public void A_fresh_foundry_pack_checks_with_the_agreed_warnings_each_one_short_sentence_that_says_what_to_do()
    {
        Assert.Equal(0, Run("init", "--template", "azure-foundry", "--agent-subnet", "10.20.1.0/24", "--spoke-cidr", "10.30.0.0/16",
            "--region", "eastus", "--tool-fqdn", "mcp.contoso.com", "-o", "corral.yaml").ExitCode);
        var check = Run("check", "corral.yaml");
        Assert.Equal(0, check.ExitCode);
        Assert.Equal("", check.Stderr);
        Assert.Equal([
            "corral.yaml:18:33: warning: the gateway cannot enforce the policy's 4 service tags without a Service Tags file (set serviceTags.file to Microsoft's weekly ServiceTags_Public_*.json) [service-tags-unresolved]",
            "corral.yaml:50:5: warning: rule 'allow-aca-svctag' permits by address alone: in explicit mode any name its sources ask for on port 443 is resolved (add a web group naming its hosts, or narrow its sources or ports) [resolves-every-name]",
            "corral.yaml:52:128: warning: rule 'allow-tool-calls' decrypts but the policy declares no interception CA (run 'corral ca init --out corral-ca' and set tls.interceptionCa; the agents and the controller must trust it) [no-interception-ca]",
            "corral.yaml:54:127: warning: catch-all deny 'default-deny-internet' only watches: promote it (mode: enforce) once its logged flows look right [catch-all-watch]",
            "corral.yaml: ok: 6 rules, 4 warning(s)",
            "why a warning matters and what to weigh: corral explain --lint CODE (e.g. service-tags-unresolved)",
        ], check.Stdout.TrimEnd('\n').Split('\n'));
        foreach (var warning in check.Stdout.Split('\n').Where(l => l.Contains(": warning: ", StringComparison.Ordinal)))
            Assert.True(warning.Length <= 240, $"{warning.Length} characters: {warning}");
    }

    [Fact]
    public void Explain_lint_gives_the_long_form_of_each_warning_and_names_the_lints_for_an_unknown_one()
    {
        var explained = Run("explain", "--lint", "resolves-every-name");
        Assert.Equal(0, explained.ExitCode);
        Assert.StartsWith("resolves-every-name: a rule that lets flows through by address alone", explained.Stdout);
        Assert.Contains("Why: The gateway decides most flows by name before resolving it.", explained.Stdout);
        Assert.Contains("What to do: Add a web group naming the hosts the rule is for", explained.Stdout);
        Assert.Equal(0, Run("explain", "--lint", "[service-tags-unresolved]").ExitCode); // as copied from the end of a warning

        var unknown = Run("explain", "--lint", "resolve-every-name");
        Assert.Equal(2, unknown.ExitCode);
        Assert.Contains("no lint 'resolve-every-name' (did you mean 'resolves-every-name'?); the lints: shadowed-rule, ", unknown.Stderr);
    }

    [Fact]
    public void Hints_name_the_command_as_the_user_runs_it_and_the_ca_hint_runs_as_printed()
    {
        var asScript = new Dictionary<string, string> { ["CORRAL_INVOKED_AS"] = "scripts/corral" };
        ProcessResult RunAs(IReadOnlyDictionary<string, string>? environment, params string[] args) =>
            ProcessRunner.Run(CorralProgram.DotnetHost, [CorralProgram.Dll, .. args], new RunOptions { WorkingDirectory = _temp.Path, Environment = environment, Timeout = TimeSpan.FromMinutes(2) });

        // A missing policy: the hint names the command the user ran, wherever the policy core wrote 'corral …'.
        var missing = RunAs(asScript, "check", "nope.yaml");
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("(create one with 'scripts/corral init --template azure-foundry')", missing.Stderr);
        var json = RunAs(asScript, "check", "nope.yaml", "--json");
        Assert.Equal("create one with 'scripts/corral init --template azure-foundry'",
            JsonDocument.Parse(json.Stdout).RootElement.GetProperty("diagnostics")[0].GetProperty("hint").GetString());
        Assert.Contains("fix them with 'scripts/corral check' first", RunAs(asScript, "explain", "nope.yaml", "--src", "10.0.0.1", "--dst", "a.example").Stderr);
        Assert.Contains("(create one with 'corral init --template azure-foundry')", RunAs(null, "check", "nope.yaml").Stderr);

        // ca init: the next step names the policy, so it runs as printed.
        Assert.Equal(0, Run("init", "--template", "azure-foundry", "-o", "try.yaml").ExitCode);
        var ca = RunAs(asScript, "ca", "init", "--out", "ca", "--constrain-to", "try.yaml");
        Assert.Equal(0, ca.ExitCode);
        Assert.Contains($"next: scripts/corral gateway try.yaml --ca-cert {Path.Combine("ca", "corral-ca.crt")} --ca-key {Path.Combine("ca", "corral-ca.key")}", ca.Stdout);
        Assert.Contains("next: corral gateway corral.yaml --ca-cert", Run("ca", "init", "--out", "ca2").Stdout);
    }

    [Fact]
    public void Explain_takes_the_path_as_sent_and_says_when_a_URL_filter_cannot_match_it()
    {
        Assert.Equal(0, Run("init", "-o", "corral.yaml").ExitCode);
        var plain = Run("explain", "--src", "10.20.1.5", "--dst", "mcp.contoso.com", "--path", "/api/v4/projects/group%2Fproject");
        Assert.Equal(0, plain.ExitCode);
        Assert.Contains("verdict: permit by allow-tool-calls", plain.Stdout);
        Assert.DoesNotContain("websocket:", plain.Stdout); // watched: spliced, so an upgrade is not the gateway's to decide
        var policyFile = Path.Combine(_temp.Path, "corral.yaml");
        File.WriteAllText(policyFile, File.ReadAllText(policyFile).Replace("ports: [443], mode: watch }", "ports: [443] }"));
        Assert.Contains("websocket: refused (rule allow-tool-calls has no 'websocket: allow')", Run("explain", "--src", "10.20.1.5", "--dst", "mcp.contoso.com").Stdout);
        File.WriteAllText(policyFile, File.ReadAllText(policyFile).Replace("decrypt: allowed, ports: [443] }", "decrypt: allowed, ports: [443], websocket: allow }"));
        Assert.Contains("websocket: allowed by allow-tool-calls (each message the agent sends is inspected)",
            Run("explain", "--src", "10.20.1.5", "--dst", "mcp.contoso.com").Stdout);
        Assert.Contains("\"websocket\":true", Run("explain", "--src", "10.20.1.5", "--dst", "mcp.contoso.com", "--json").Stdout);
        var filtered = Run("explain", "--src", "10.20.1.5", "--dst", "api.github.com", "--path", "/repos/evil/../contoso/x");
        Assert.Equal(0, filtered.ExitCode);
        Assert.Contains("is ambiguous (dot segment ('/./' or '/../') in path), so it matches no URL filter of foundry-tool-calls", filtered.Stdout);
        Assert.Contains("verdict: deny by default-deny-internet", filtered.Stdout);
        Assert.Equal(2, Run("explain", "--src", "10.20.1.5", "--dst", "api.github.com", "--path", "repos/x").ExitCode);
    }

    [Fact]
    public void Explain_text_traces_each_rule_and_the_guard()
    {
        Assert.Equal(0, Run("init", "-o", "corral.yaml").ExitCode);
        var result = Run("explain", "--src", "10.20.1.5", "--dst", "mcp.contoso.com", "--resolved", "10.30.0.7");
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("allow-tool-calls", result.Stdout);
        Assert.Contains("private (RFC 1918)", result.Stdout);
        Assert.Contains("verdict: deny by deny-east-west (priority 6)", result.Stdout);
    }

    [Fact]
    public void Check_reports_errors_with_location_and_exit_one_and_json_on_request()
    {
        _temp.Write("bad.yaml", "version: 1\nrules:\n  - { name: r, priority: 1, action: permt }\n");
        var text = Run("check", "bad.yaml");
        Assert.Equal(1, text.ExitCode);
        Assert.Contains("bad.yaml:3:37: error: 'action' must be permit | deny, not 'permt' (did you mean 'permit'?)", text.Stderr);

        var json = Run("check", "bad.yaml", "--json");
        Assert.Equal(1, json.ExitCode);
        var d = JsonDocument.Parse(json.Stdout).RootElement.GetProperty("diagnostics")[0];
        Assert.Equal((3, 37, "bad-value"), (d.GetProperty("line").GetInt32(), d.GetProperty("column").GetInt32(), d.GetProperty("code").GetString()));
    }

    [Fact]
    public void Strict_turns_warnings_into_a_failing_exit()
    {
        Assert.Equal(0, Run("init", "-o", "corral.yaml", "--watch").ExitCode);
        Assert.Equal(0, Run("check").ExitCode);
        var strict = Run("check", "--strict");
        Assert.Equal(1, strict.ExitCode);
        Assert.Contains("error: catch-all deny 'default-deny-internet' only watches", strict.Stderr);
    }

    [Theory]
    [InlineData("explain", "--src", "10.0.0.1")]                       // --dst missing
    [InlineData("explain", "--src", "nope", "--dst", "x.example")]     // bad address
    [InlineData("init", "--agent-subnet", "10.0.0.1/8")]               // host bits
    [InlineData("frobnicate")]
    public void Usage_errors_exit_two(params string[] args) => Assert.Equal(2, Run(args).ExitCode);

    [Fact]
    public void Init_refuses_to_overwrite_without_force()
    {
        Assert.Equal(0, Run("init").ExitCode);
        Assert.Equal(1, Run("init").ExitCode);
        Assert.Equal(0, Run("init", "--force").ExitCode);
    }

    [Fact]
    public void Help_lists_the_commands()
    {
        var help = Run("--help");
        Assert.Equal(0, help.ExitCode);
        foreach (var command in new[] { "init", "check", "explain" }) Assert.Contains(command, help.Stdout);
    }

    [Fact]
    public void Ca_init_writes_an_owner_only_key_export_prints_the_certificate_and_constraints_come_from_the_policy()
    {
        Assert.Equal(0, Run("init", "-o", "corral.yaml").ExitCode);
        var init = Run("ca", "init", "--constrain-to", "corral.yaml");
        Assert.Equal(0, init.ExitCode);
        Assert.Contains("constrained to: api.github.com, mcp.contoso.com", init.Stdout);
        var key = Path.Combine(_temp.Path, "corral-ca", "corral-ca.key");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(key));
        Assert.Equal(1, Run("ca", "init").ExitCode); // never overwrites silently

        var export = Run("ca", "export");
        Assert.Equal(0, export.ExitCode);
        Assert.StartsWith("-----BEGIN CERTIFICATE-----", export.Stdout);

        File.SetUnixFileMode(key, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        var refused = Run("ca", "export");
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("chmod 600", refused.Stderr);
    }
}

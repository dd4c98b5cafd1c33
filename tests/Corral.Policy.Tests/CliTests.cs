using System.Diagnostics;
using System.Text.Json;

namespace Corral.Policy.Tests;

/// <summary>Runs the built `corral` program as a user would, in a fresh folder, and checks its output and exit codes.</summary>
public sealed class CliTests : IDisposable
{
    private readonly TempPolicy _temp = new();

    public void Dispose() => _temp.Dispose();

    internal static (int Code, string Out, string Err) Corral(string workingDirectory, params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "corral.dll");
        Assert.True(File.Exists(dll), $"built corral not found at {dll}");
        var start = new ProcessStartInfo("dotnet") { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(dll);
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(60_000), "corral did not finish within a minute");
        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    private (int Code, string Out, string Err) Run(params string[] args) => Corral(_temp.Directory, args);

    [Fact]
    public void Init_then_check_exits_zero_and_explain_gives_the_documented_verdicts()
    {
        var init = Run("init", "--template", "azure-foundry", "-o", "p.yaml");
        Assert.Equal(0, init.Code);
        Assert.True(File.Exists(Path.Combine(_temp.Directory, "feeds", "threat-ips.txt")));

        var check = Run("check", "p.yaml");
        Assert.Equal(0, check.Code);
        Assert.Contains("p.yaml: ok: 6 rules", check.Out);

        var evil = JsonDocument.Parse(Run("explain", "p.yaml", "--src", "10.20.1.5", "--dst", "evil.example", "--port", "443", "--json").Out).RootElement;
        Assert.Equal("deny", evil.GetProperty("action").GetString());
        Assert.Equal("default-deny-internet", evil.GetProperty("rule").GetString());
        Assert.Equal(5, evil.GetProperty("priority").GetInt32());
        Assert.True(evil.GetProperty("enforced").GetBoolean());

        var mcr = JsonDocument.Parse(Run("explain", "p.yaml", "--src", "10.20.1.5", "--dst", "mcr.microsoft.com", "--port", "443", "--json").Out).RootElement;
        Assert.Equal(("permit", "allow-aca-fqdn", false), (mcr.GetProperty("action").GetString(), mcr.GetProperty("rule").GetString(), mcr.GetProperty("decrypt").GetBoolean()));
        Assert.Equal(["action", "rule", "priority", "enforced", "decrypt", "reason"], mcr.EnumerateObject().Select(p => p.Name));
    }

    [Fact]
    public void Explain_takes_the_path_as_sent_and_says_when_a_URL_filter_cannot_match_it()
    {
        Assert.Equal(0, Run("init", "-o", "corral.yaml").Code);
        var plain = Run("explain", "--src", "10.20.1.5", "--dst", "mcp.contoso.com", "--path", "/api/v4/projects/group%2Fproject");
        Assert.Equal(0, plain.Code);
        Assert.Contains("verdict: permit by allow-tool-calls", plain.Out);
        var filtered = Run("explain", "--src", "10.20.1.5", "--dst", "api.github.com", "--path", "/repos/evil/../contoso/x");
        Assert.Equal(0, filtered.Code);
        Assert.Contains("is ambiguous (dot segment ('/./' or '/../') in path), so it matches no URL filter of foundry-tool-calls", filtered.Out);
        Assert.Contains("verdict: deny by default-deny-internet", filtered.Out);
        Assert.Equal(2, Run("explain", "--src", "10.20.1.5", "--dst", "api.github.com", "--path", "repos/x").Code);
    }

    [Fact]
    public void Explain_text_traces_each_rule_and_the_guard()
    {
        Assert.Equal(0, Run("init", "-o", "corral.yaml").Code);
        var result = Run("explain", "--src", "10.20.1.5", "--dst", "mcp.contoso.com", "--resolved", "10.30.0.7");
        Assert.Equal(0, result.Code);
        Assert.Contains("allow-tool-calls", result.Out);
        Assert.Contains("private (RFC 1918)", result.Out);
        Assert.Contains("verdict: deny by deny-east-west (priority 6)", result.Out);
    }

    [Fact]
    public void Check_reports_errors_with_location_and_exit_one_and_json_on_request()
    {
        _temp.Write("bad.yaml", "version: 1\nrules:\n  - { name: r, priority: 1, action: permt }\n");
        var text = Run("check", "bad.yaml");
        Assert.Equal(1, text.Code);
        Assert.Contains("bad.yaml:3:37: error: 'action' must be permit | deny, not 'permt' (did you mean 'permit'?)", text.Err);

        var json = Run("check", "bad.yaml", "--json");
        Assert.Equal(1, json.Code);
        var d = JsonDocument.Parse(json.Out).RootElement.GetProperty("diagnostics")[0];
        Assert.Equal((3, 37, "bad-value"), (d.GetProperty("line").GetInt32(), d.GetProperty("column").GetInt32(), d.GetProperty("code").GetString()));
    }

    [Fact]
    public void Strict_turns_warnings_into_a_failing_exit()
    {
        Assert.Equal(0, Run("init", "-o", "corral.yaml", "--watch").Code);
        Assert.Equal(0, Run("check").Code);
        var strict = Run("check", "--strict");
        Assert.Equal(1, strict.Code);
        Assert.Contains("error: catch-all deny 'default-deny-internet' is in watch mode", strict.Err);
    }

    [Theory]
    [InlineData("explain", "--src", "10.0.0.1")]                       // --dst missing
    [InlineData("explain", "--src", "nope", "--dst", "x.example")]     // bad address
    [InlineData("init", "--agent-subnet", "10.0.0.1/8")]               // host bits
    [InlineData("frobnicate")]
    public void Usage_errors_exit_two(params string[] args) => Assert.Equal(2, Run(args).Code);

    [Fact]
    public void Init_refuses_to_overwrite_without_force()
    {
        Assert.Equal(0, Run("init").Code);
        Assert.Equal(1, Run("init").Code);
        Assert.Equal(0, Run("init", "--force").Code);
    }

    [Fact]
    public void Help_lists_the_commands()
    {
        var help = Run("--help");
        Assert.Equal(0, help.Code);
        foreach (var command in new[] { "init", "check", "explain" }) Assert.Contains(command, help.Out);
    }

    [Fact]
    public void Ca_init_writes_an_owner_only_key_export_prints_the_certificate_and_constraints_come_from_the_policy()
    {
        Assert.Equal(0, Run("init", "-o", "corral.yaml").Code);
        var init = Run("ca", "init", "--constrain-to", "corral.yaml");
        Assert.Equal(0, init.Code);
        Assert.Contains("constrained to: api.github.com, mcp.contoso.com", init.Out);
        var key = Path.Combine(_temp.Directory, "corral-ca", "corral-ca.key");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(key));
        Assert.Equal(1, Run("ca", "init").Code); // never overwrites silently

        var export = Run("ca", "export");
        Assert.Equal(0, export.Code);
        Assert.StartsWith("-----BEGIN CERTIFICATE-----", export.Out);

        File.SetUnixFileMode(key, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        var refused = Run("ca", "export");
        Assert.Equal(1, refused.Code);
        Assert.Contains("chmod 600", refused.Err);
    }
}

using Corral.Certificates;

namespace Corral.Cli.Tests;

/// <summary><c>corral gateway</c>'s exit codes: 1 for a policy that fails to load (with FILE:LINE:COL), 2 for usage errors.</summary>
public sealed class GatewayCommandTests
{
    [Fact]
    public void A_bad_policy_exits_1_with_file_line_column_errors()
    {
        var path = Path.Combine(Path.GetTempPath(), $"corral-bad-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(path, "version: 1\nname: bad\ndefaultAction: maybe\nrules: []\n");
        try
        {
            var stderr = new StringWriter();
            Assert.Equal(1, CorralCommand.Run(["gateway", path, "--listen", "127.0.0.1:0"], new StringWriter(), stderr));
            Assert.Matches(@"corral-bad-[0-9a-f]+\.yaml:\d+:\d+: error", stderr.ToString());
        }
        finally { File.Delete(path); }
    }

    [Theory]
    [InlineData("--listen", "not-an-endpoint")]
    [InlineData("--public-standin", "300.0.0.0/8")]
    [InlineData("--idle-timeout", "-1")]
    [InlineData("--no-such-option", "x")]
    [InlineData("--admin-host", "not a name!")]
    [InlineData("--dns", "not-an-endpoint")]
    [InlineData("--dns-upstream", "127.0.0.1:53")] // without --dns
    [InlineData("--dns-rate", "0")]
    [InlineData("--flow-log-format", "json")]
    public void Usage_errors_exit_2(string option, string value)
    {
        Assert.Equal(2, CorralCommand.Run(["gateway", "missing.yaml", option, value], new StringWriter(), new StringWriter()));
    }

    [Fact]
    public void Fail_closed_without_a_flow_log_is_a_usage_error()
    {
        var stderr = new StringWriter();
        Assert.Equal(2, CorralCommand.Run(["gateway", "missing.yaml", "--flow-log-fail-closed"], new StringWriter(), stderr));
        Assert.Contains("--flow-log-fail-closed needs --flow-log", stderr.ToString());
    }

    [Fact]
    public void An_ocsf_flow_log_without_a_flow_log_is_a_usage_error()
    {
        var stderr = new StringWriter();
        Assert.Equal(2, CorralCommand.Run(["gateway", "missing.yaml", "--flow-log-format", "ocsf"], new StringWriter(), stderr));
        Assert.Contains("--flow-log-format ocsf needs --flow-log", stderr.ToString());
    }

    [Fact]
    public void A_dns_upstream_that_is_not_an_endpoint_is_a_usage_error()
    {
        var stderr = new StringWriter();
        Assert.Equal(2, CorralCommand.Run(["gateway", "missing.yaml", "--dns", "127.0.0.1:0", "--dns-upstream", "resolver.example"], new StringWriter(), stderr));
        Assert.Contains("--dns-upstream 'resolver.example' is not ADDR:PORT", stderr.ToString());
    }

    [Fact]
    public void The_gateway_refuses_a_CA_key_that_others_can_read()
    {
        var folder = Path.Combine(Path.GetTempPath(), "corral-gwca-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            using var ca = CertificateAuthority.Create(new CaOptions());
            var (cert, key) = ca.Save(folder);
            File.SetUnixFileMode(key, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
            var output = new StringWriter();
            var policy = Path.Combine(folder, "p.yaml");
            Assert.Equal(0, CorralCommand.Run(["init", "-o", policy], output, output));
            var errors = new StringWriter();
            Assert.Equal(1, CorralCommand.Run(["gateway", policy, "--listen", "127.0.0.1:0", "--ca-cert", cert, "--ca-key", key], output, errors));
            Assert.Contains("chmod 600", errors.ToString());
            Assert.Equal(2, CorralCommand.Run(["gateway", policy, "--ca-cert", cert], output, errors));
        }
        finally
        {
            Directory.Delete(folder, true);
        }
    }
}

using Corral.Testing;

namespace Corral.Cli.Tests;

/// <summary>`corral terraform` as users run it: the built command end to end, bad input, usage errors.</summary>
public sealed class TerraformCommandTests
{
    private static ProcessResult Run(params string[] args) => CorralInProcess.Run(args);

    [Fact]
    public void Init_then_terraform_writes_a_module_that_parses()
    {
        using var dir = new TempFolder("corral-tf-");
        var init = CorralProgram.Run(dir.Path, "init", "--template", "azure-foundry", "-o", "p.yaml");
        Assert.True(init.ExitCode == 0, init.Stderr);
        var tf = CorralProgram.Run(dir.Path, "terraform", "p.yaml", "-o", "infra");
        Assert.True(tf.ExitCode == 0, tf.Stderr);

        var infra = dir.File("infra");
        Assert.Equal(["README.md", "dcf.tf", "gateway.tf", "network.tf", "outputs.tf", "smartgroups.tf", "terraform.tfvars.example", "variables.tf", "versions.tf", "webgroups.tf"],
            Directory.GetFiles(infra).Select(f => Path.GetFileName(f)!).Order(StringComparer.Ordinal));
        var parsed = HclParser.ParseFolder(infra);
        var rules = parsed.GetProperty("dcf.tf").GetProperty("resource").GetProperty("aviatrix_dcf_ruleset").GetProperty("foundry_agents_eastus")[0].GetProperty("rules");
        Assert.Equal(6, rules.GetArrayLength());
        // `corral init` with defaults: every rule deploys in watch mode, promotion is the documented next step.
        Assert.All(rules.EnumerateArray(), r => Assert.True(r.GetProperty("watch").GetBoolean(), r.GetProperty("name").GetString()));
        Assert.Contains("~> 9.0.0", File.ReadAllText(Path.Combine(infra, "versions.tf")));
        // Comments point back at the policy file and line.
        Assert.Contains("# deny-threat-intel (p.yaml:", File.ReadAllText(Path.Combine(infra, "dcf.tf")));
        // What Aviatrix cannot express is on stderr and in the README, never dropped.
        Assert.Contains("[internal-address-guard]", tf.Stderr);
        Assert.Contains("[gateway-only]", tf.Stderr);
        var readme = File.ReadAllText(Path.Combine(infra, "README.md"));
        Assert.Contains("`internal-address-guard`", readme);
        Assert.Contains("hosts overrides", readme);
    }

    [Fact]
    public void Init_enforce_writes_every_rule_enforced_and_the_controller_flag_pins_the_provider()
    {
        using var dir = new TempFolder("corral-tf-");
        var init = CorralProgram.Run(dir.Path, "init", "--enforce", "-o", "p.yaml");
        Assert.True(init.ExitCode == 0, init.Stderr);
        Assert.DoesNotContain("mode: watch", File.ReadAllText(dir.File("p.yaml")));
        Assert.Equal(CorralCommand.UsageError, CorralProgram.Run(dir.Path, "init", "--enforce", "--watch", "-o", "q.yaml").ExitCode);
        var tf = CorralProgram.Run(dir.Path, "terraform", "p.yaml", "-o", "infra", "--controller", "8.2");
        Assert.True(tf.ExitCode == 0, tf.Stderr);
        Assert.Contains("~> 8.2.0", File.ReadAllText(dir.File("infra/versions.tf")));
        Assert.Contains("aviatrix_distributed_firewalling_config", File.ReadAllText(dir.File("infra/dcf.tf")));
        Assert.Contains("[decrypt-needs-9.0]", tf.Stderr);
    }

    [Fact]
    public void Transit_mode_by_the_command_line()
    {
        using var dir = new TempFolder("corral-tf-");
        var policy = FoundryPack.Write(dir);
        var output = dir.File("infra");
        var (code, _, err) = Run("terraform", policy, "-o", output, "--gateway", "transit", "--transit-gw", "transit-eastus", "--ruleset", "policy-list");
        Assert.True(code == 0, err);
        Assert.Contains("aviatrix_spoke_transit_attachment", File.ReadAllText(Path.Combine(output, "gateway.tf")));
        Assert.Contains("default     = \"transit-eastus\"", File.ReadAllText(Path.Combine(output, "variables.tf")));
        Assert.Contains("aviatrix_distributed_firewalling_policy_list", File.ReadAllText(Path.Combine(output, "dcf.tf")));
    }

    [Fact]
    public void A_policy_that_does_not_check_writes_nothing()
    {
        using var dir = new TempFolder("corral-tf-");
        var policy = dir.File("corral.yaml");
        File.WriteAllText(policy, "version: 1\nname: broken\nrules:\n  - { name: r, priority: 1, destination: [no-such-group], action: deny }\n");
        var output = dir.File("infra");
        var (code, _, err) = Run("terraform", policy, "-o", output);
        Assert.Equal(CorralCommand.InputError, code);
        Assert.Contains("corral.yaml:4:", err);
        Assert.Contains("error:", err);
        Assert.False(Directory.Exists(output), "no module folder may be created for a policy that does not check");
    }

    [Fact]
    public void A_missing_policy_writes_nothing()
    {
        using var dir = new TempFolder("corral-tf-");
        var output = dir.File("infra");
        var (code, _, _) = Run("terraform", dir.File("absent.yaml"), "-o", output);
        Assert.Equal(CorralCommand.InputError, code);
        Assert.False(Directory.Exists(output));
    }

    [Theory]
    [InlineData("--gateway", "hub")]
    [InlineData("--ruleset", "acl")]
    [InlineData("--transit-gw", "t1")]
    public void Usage_errors_exit_two(string option, string value)
    {
        using var dir = new TempFolder("corral-tf-");
        var policy = FoundryPack.Write(dir);
        var (code, _, _) = Run("terraform", policy, "-o", dir.File("infra"), option, value);
        Assert.Equal(CorralCommand.UsageError, code);
        Assert.False(Directory.Exists(dir.File("infra")));
    }

    [Fact]
    public void Output_folder_is_required()
    {
        using var dir = new TempFolder("corral-tf-");
        var (code, _, _) = Run("terraform", FoundryPack.Write(dir));
        Assert.Equal(CorralCommand.UsageError, code);
    }
}

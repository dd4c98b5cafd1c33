using Corral.Terraform.Mapping;
using Corral.Testing;

namespace Corral.Terraform.Tests;

/// <summary>
/// The Foundry pack's module, byte for byte, in both gateway modes. After an intended change, regenerate the goldens
/// with <c>CORRAL_UPDATE_GOLDEN=1 dotnet test tests/Corral.Terraform.Tests</c> and review the diff before committing.
/// </summary>
public sealed class GoldenTests
{
    private const string UpdateVariable = "CORRAL_UPDATE_GOLDEN";

    private static string GoldenDir(string mode) => Path.Combine(Repository.Root, "tests", "Corral.Terraform.Tests", "golden", mode);

    /// <summary>The two gateway modes the issue asks for, and the policy-list variant of the rules.</summary>
    public static TheoryData<string> Modes => new() { "standalone", "transit", "transit-policy-list" };

    internal static TerraformModule Generate(string mode, TempFolder dir)
    {
        var policy = FoundryPack.Compile(FoundryPack.Write(dir));
        var options = mode switch
        {
            "transit" => new TerraformOptions { Gateway = GatewayMode.Transit, TransitGatewayName = "transit-eastus" },
            "transit-policy-list" => new TerraformOptions { Gateway = GatewayMode.Transit, Ruleset = RulesetKind.PolicyList },
            _ => new TerraformOptions(),
        };
        return TerraformExporter.Export(policy, options);
    }

    [Theory, MemberData(nameof(Modes))]
    public void Foundry_pack_matches_golden(string mode)
    {
        using var dir = new TempFolder("corral-tf-");
        var module = Generate(mode, dir);
        var golden = GoldenDir(mode);
        if (Environment.GetEnvironmentVariable(UpdateVariable) == "1")
        {
            if (Directory.Exists(golden)) Directory.Delete(golden, recursive: true);
            module.WriteTo(golden);
        }

        var expectedNames = Directory.GetFiles(golden).Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(expectedNames, module.Files.Select(f => f.Key).Order(StringComparer.Ordinal).ToList());
        foreach (var (name, content) in module.Files)
        {
            var expected = File.ReadAllBytes(Path.Combine(golden, name));
            var actual = new System.Text.UTF8Encoding(false).GetBytes(content);
            Assert.True(expected.AsSpan().SequenceEqual(actual),
                $"{name} differs from {golden}/{name}; if the change is intended, run with {UpdateVariable}=1 and review the diff");
        }
    }

    [Fact]
    public void Same_input_same_bytes()
    {
        using var a = new TempFolder("corral-tf-");
        using var b = new TempFolder("corral-tf-");
        var first = Generate("standalone", a);
        var second = Generate("standalone", b);
        Assert.Equal(first.Files, second.Files);
    }
}

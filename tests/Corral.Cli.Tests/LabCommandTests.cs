namespace Corral.Cli.Tests;

/// <summary><c>corral lab</c>'s usage: its help and a wrong mode (the passes themselves are in Corral.Lab.Tests, which own the host's network).</summary>
public sealed class LabCommandTests
{
    [Fact]
    public void Corral_lab_help_documents_the_mode_option_and_a_wrong_mode_is_a_usage_error()
    {
        var stdout = new StringWriter();
        Assert.Equal(0, CorralCommand.Run(["lab", "--help"], stdout, new StringWriter()));
        Assert.Contains("--mode", stdout.ToString());
        Assert.Contains("transparent", stdout.ToString());
        var stderr = new StringWriter();
        Assert.Equal(CorralCommand.UsageError, CorralCommand.Run(["lab", "--mode", "sideways"], new StringWriter(), stderr));
        Assert.Contains("sideways", stderr.ToString());
    }
}

using Corral.Gateway.Credentials;
using Corral.Policy.Compilation;
using Corral.Policy.Model;
using Corral.Testing;

namespace Corral.Gateway.Tests;

/// <summary>Credential values come from their sources at use: rotated files take effect at once, and a bad value is never sent.</summary>
public sealed class CredentialValuesTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private static CompiledCredential Credential(CredentialSource source) =>
        new CompiledCredentials([new Credential("t", default!, source, [], new CredentialPlacement(CredentialPlacementKind.Header, "x-api-key"), "corral-cred-t")], []).All[0];

    private CompiledCredential FileCredential(string relative) =>
        Credential(new CredentialSource(CredentialSourceKind.File, relative, default!) { FullPath = _temp.File(relative) });

    [Fact]
    public void A_file_value_is_read_without_its_final_line_break_and_a_rotated_file_takes_effect_on_the_next_use()
    {
        var values = new CredentialValues();
        var credential = FileCredential("key.token");
        _temp.Write("key.token", "first-value-123\n");
        Assert.Equal("first-value-123", values.TryGet(credential, out var problem));
        Assert.Null(problem);
        // Rotation by writing a new file over the old (as a secret-sync agent does): the next use reads it.
        File.WriteAllText(_temp.File("key.token.new"), "second-value-4567\r\n");
        File.Move(_temp.File("key.token.new"), _temp.File("key.token"), overwrite: true);
        Assert.Equal("second-value-4567", values.TryGet(credential, out _));
    }

    [Fact]
    public void An_environment_variable_is_read_at_use()
    {
        var name = "CORRAL_TEST_CREDENTIAL_" + Guid.NewGuid().ToString("N");
        var credential = Credential(new CredentialSource(CredentialSourceKind.Environment, name, default!));
        var values = new CredentialValues();
        Assert.Null(values.TryGet(credential, out var problem));
        Assert.Equal($"environment variable {name} is not set", problem);
        Environment.SetEnvironmentVariable(name, "env-value-99");
        try { Assert.Equal("env-value-99", values.TryGet(credential, out _)); }
        finally { Environment.SetEnvironmentVariable(name, null); }
    }

    [Theory]
    [InlineData("", "is empty")]
    [InlineData("\n", "is empty")]
    [InlineData("abc\r\nInjected: header", "cannot travel in a header or a query")]
    [InlineData("two words", "cannot travel in a header or a query")]
    [InlineData("caf\u00e9-secret", "cannot travel in a header or a query")]
    public void A_value_that_cannot_travel_is_refused_and_the_problem_never_quotes_it(string content, string expected)
    {
        _temp.Write("bad.token", content);
        var values = new CredentialValues();
        Assert.Null(values.TryGet(FileCredential("bad.token"), out var problem));
        Assert.Contains(expected, problem);
        Assert.Contains("file bad.token", problem);
        if (content.Trim().Length > 0) Assert.DoesNotContain(content.Trim(), problem);
    }

    [Fact]
    public void A_missing_file_is_named_not_guessed()
    {
        var values = new CredentialValues();
        Assert.Null(values.TryGet(FileCredential("missing.token"), out var problem));
        Assert.Equal("file missing.token does not exist", problem);
    }
}

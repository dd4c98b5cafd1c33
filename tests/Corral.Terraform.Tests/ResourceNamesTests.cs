using Corral.Terraform.Mapping;

namespace Corral.Terraform.Tests;

public sealed class ResourceNamesTests
{
    [Theory]
    [InlineData("foundry-agents", "foundry_agents")]
    [InlineData("aca.svctag--AAD", "aca_svctag_aad")]
    [InlineData("1st-group", "g_1st_group")]
    [InlineData("-edge-", "edge")]
    [InlineData("---", "group")]
    public void SanitizesToTerraformIdentifiers(string policyName, string expected) =>
        Assert.Equal(expected, ResourceNames.Sanitize(policyName));

    [Fact]
    public void ClashesGetNumberedInFirstComeOrderAndRepeatStably()
    {
        var names = new ResourceNames();
        Assert.Equal("a_b", names.For("t", "a-b"));
        Assert.Equal("a_b_2", names.For("t", "a.b"));
        Assert.Equal("a_b", names.For("t", "a-b"));
        Assert.Equal("a_b", names.For("other", "a.b"));
    }
}

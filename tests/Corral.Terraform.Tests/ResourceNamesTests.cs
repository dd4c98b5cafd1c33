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
    public void Sanitizes_to_Terraform_identifiers(string policyName, string expected) =>
        Assert.Equal(expected, ResourceNames.Sanitize(policyName));

    [Fact]
    public void Clashes_get_numbered_in_first_come_order_and_repeat_stably()
    {
        var names = new ResourceNames();
        Assert.Equal("a_b", names.For("t", "a-b"));
        Assert.Equal("a_b_2", names.For("t", "a.b"));
        Assert.Equal("a_b", names.For("t", "a-b"));
        Assert.Equal("a_b", names.For("other", "a.b"));
    }
}

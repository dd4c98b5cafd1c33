using Corral.Terraform.Hcl;

namespace Corral.Terraform.Tests;

public sealed class HclWriterTests
{
    [Fact]
    public void Aligns_equals_within_a_run_of_single_line_attributes()
    {
        var file = new HclBody().Block("resource", ["x", "y"], b => b
            .Attribute("name", "a")
            .Attribute("priority", 1)
            .Blank()
            .Attribute("watch", false));
        Assert.Equal("resource \"x\" \"y\" {\n  name     = \"a\"\n  priority = 1\n\n  watch = false\n}\n", HclWriter.Write(file));
    }

    [Fact]
    public void Comments_blocks_and_multi_line_objects_end_a_run()
    {
        var file = new HclBody().Block("m", b => b
            .Attribute("external", "azureips")
            .Attribute("ext_args", new HclObject([new("service_name", HclExpression.Of("AzureCloud")), new("region", HclExpression.Of("eastus"))]))
            .Attribute("a", true)
            .Comment("why")
            .Attribute("long_name", 2)
            .Block("inner", i => i.Attribute("lo", 443)));
        Assert.Equal(
            "m {\n  external = \"azureips\"\n  ext_args = {\n    service_name = \"AzureCloud\"\n    region       = \"eastus\"\n  }\n  a = true\n  # why\n" +
            "  long_name = 2\n  inner {\n    lo = 443\n  }\n}\n",
            HclWriter.Write(file));
    }

    [Theory]
    [InlineData("plain", "\"plain\"")]
    [InlineData("say \"hi\"", "\"say \\\"hi\\\"\"")]
    [InlineData("back\\slash", "\"back\\\\slash\"")]
    [InlineData("${var.x}", "\"$${var.x}\"")]
    [InlineData("%{ if }", "\"%%{ if }\"")]
    [InlineData("cost $5 {x}", "\"cost $5 {x}\"")]
    [InlineData("line\nbreak", "\"line\\nbreak\"")]
    public void Escapes_strings_so_they_stay_literal(string value, string expected) =>
        Assert.Equal(expected, HclExpression.Of(value).ToString());

    [Fact]
    public void Empty_block_is_written_on_one_line() =>
        Assert.Equal("features {}\n", HclWriter.Write(new HclBody().Block("features", _ => { })));

    [Fact]
    public void Lists_are_one_line() =>
        Assert.Equal("[\"a\", \"b\"]", HclExpression.Strings(["a", "b"]).ToString());
}

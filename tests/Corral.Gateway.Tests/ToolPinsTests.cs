using Corral.Gateway.Mcp;
using Corral.Interception.Mcp;

namespace Corral.Gateway.Tests;

/// <summary>The pin file: first answer pinned, changes flagged and held, pages never count as removals, accept clears.</summary>
public sealed class ToolPinsTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("corral-pins-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static McpToolListing Listing(bool complete, params (string Name, string Hash)[] tools) => new(tools.Select(t => new McpToolDefinition(t.Name, t.Hash)).ToList(), complete);

    [Fact]
    public void Added_changed_and_removed_tools_are_flagged_once_and_added_or_changed_ones_held()
    {
        var pins = new ToolPins(Path.Combine(_folder, "p.mcp-pins.json"));
        Assert.Empty(pins.Observe("s", Listing(true, ("a", "1"), ("b", "2"), ("c", "3"))).Changed);

        var seen = pins.Observe("s", Listing(true, ("a", "1"), ("b", "9"), ("d", "4")));
        Assert.Equal(["b", "d", "c"], seen.Changed);
        Assert.Equal(["b", "d", "c"], seen.NewlyFlagged);
        Assert.Empty(pins.Observe("s", Listing(true, ("a", "1"), ("b", "9"), ("d", "4"))).NewlyFlagged); // alerted once
        Assert.True(pins.IsHeld("s", "b"));
        Assert.True(pins.IsHeld("s", "d"));
        Assert.False(pins.IsHeld("s", "a"));
        Assert.False(pins.IsHeld("other", "b"));

        Assert.Equal(["b", "c", "d"], pins.Accept("s"));
        Assert.False(pins.IsHeld("s", "b"));
        Assert.Empty(pins.Observe("s", Listing(true, ("a", "1"), ("b", "9"), ("d", "4"))).Changed);
    }

    [Fact]
    public void A_page_does_not_flag_the_tools_it_leaves_out()
    {
        var pins = new ToolPins(Path.Combine(_folder, "p.mcp-pins.json"));
        pins.Observe("s", Listing(true, ("a", "1"), ("b", "2")));
        Assert.Empty(pins.Observe("s", Listing(false, ("a", "1"))).Changed);
    }

    [Fact]
    public void A_server_that_reverts_stays_held_until_an_operator_accepts()
    {
        // A client that read the changed definition may still act on it: showing the accepted one again (to another
        // session, or later) must not lift the hold. It lifted it before.
        var pins = new ToolPins(Path.Combine(_folder, "p.mcp-pins.json"));
        pins.Observe("s", Listing(true, ("a", "1")));
        pins.Observe("s", Listing(true, ("a", "2")));
        Assert.True(pins.IsHeld("s", "a"));
        Assert.Empty(pins.Observe("s", Listing(true, ("a", "1"))).NewlyFlagged);
        Assert.True(pins.IsHeld("s", "a"));
        Assert.Equal(["a"], pins.Accept("s"));
        Assert.False(pins.IsHeld("s", "a"));
        Assert.Empty(pins.Observe("s", Listing(true, ("a", "1"))).Changed); // the accepted definition was kept
    }

    [Theory]
    [InlineData("a", "a")]      // the same name twice, changed entry first (it used to clear the hold)
    [InlineData("a", "A")]      // differing only in case
    [InlineData("a", "\uFF41")] // a fullwidth letter, the same name under NFKC
    public void A_name_listed_twice_is_a_change_held_under_every_spelling(string first, string second)
    {
        second = System.Text.RegularExpressions.Regex.Unescape(second);
        var pins = new ToolPins(Path.Combine(_folder, "p.mcp-pins.json"));
        pins.Observe("s", Listing(true, ("a", "1"), ("b", "2")));
        var seen = pins.Observe("s", Listing(true, (first, "9"), (second, "1"), ("b", "2")));
        Assert.Contains(first, seen.NewlyFlagged);
        Assert.True(pins.IsHeld("s", "a"));
        Assert.True(pins.IsHeld("s", "A"));
        Assert.True(pins.IsHeld("s", second));
        Assert.False(pins.IsHeld("s", "b"));
    }

    [Fact]
    public void A_name_listed_twice_on_first_sight_is_held_and_the_rest_pinned()
    {
        var pins = new ToolPins(Path.Combine(_folder, "p.mcp-pins.json"));
        Assert.Equal(["a"], pins.Observe("s", Listing(true, ("a", "1"), ("a", "2"), ("b", "3"))).NewlyFlagged);
        Assert.True(pins.IsHeld("s", "a"));
        Assert.False(pins.IsHeld("s", "b"));
    }

    [Fact]
    public void A_page_never_lifts_a_hold_another_page_placed()
    {
        var pins = new ToolPins(Path.Combine(_folder, "p.mcp-pins.json"));
        pins.Observe("s", Listing(true, ("a", "1"), ("b", "2")));
        pins.Observe("s", Listing(false, ("a", "9")));
        pins.Observe("s", Listing(false, ("a", "1"), ("b", "2")));
        Assert.True(pins.IsHeld("s", "a"));
    }

    [Fact]
    public void Another_instance_sees_an_accept_written_to_the_file()
    {
        var path = Path.Combine(_folder, "p.mcp-pins.json");
        var gateway = new ToolPins(path);
        gateway.Observe("s", Listing(true, ("a", "1")));
        gateway.Observe("s", Listing(true, ("a", "2")));
        Assert.Equal(["a"], new ToolPins(path).Accept("s"));
        Assert.False(gateway.IsHeld("s", "a"));
    }

    [Fact]
    public void A_pin_file_that_is_not_one_is_refused_with_its_path()
    {
        var path = Path.Combine(_folder, "p.mcp-pins.json");
        File.WriteAllText(path, "{not json");
        var e = Assert.Throws<InvalidDataException>(() => new ToolPins(path).IsHeld("s", "a"));
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void The_pin_file_sits_next_to_the_policy_and_is_named_after_it() =>
        Assert.Equal(Path.Combine(_folder, "corral.mcp-pins.json"), ToolPins.PathFor(Path.Combine(_folder, "corral.yaml")));
}

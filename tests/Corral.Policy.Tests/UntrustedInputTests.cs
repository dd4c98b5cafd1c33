namespace Corral.Policy.Tests;

/// <summary>Policy files, feeds and service-tag files are untrusted: hostile input is refused fast, in bounded memory.</summary>
public sealed class UntrustedInputTests : IDisposable
{
    private readonly TempPolicy _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void A_YAML_alias_bomb_is_refused_without_expanding_it()
    {
        var bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n" +
                   "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n";
        var before = GC.GetAllocatedBytesForCurrentThread();
        var result = _temp.Check(bomb);
        Assert.Contains(result.Diagnostics, d => d.IsError && d.Message.Contains("anchors"));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 10_000_000);
    }

    [Fact]
    public void Deep_nesting_is_refused()
    {
        var deep = "version: 1\nrules: " + new string('[', 500) + new string(']', 500) + "\n";
        var result = _temp.Check(deep);
        Assert.Contains(result.Diagnostics, d => d.IsError && d.Message.Contains("nesting deeper"));
    }

    [Fact]
    public void A_binary_file_is_refused()
    {
        var path = Path.Combine(_temp.Directory, "corral.yaml");
        var bytes = new byte[4096];
        new Random(7).NextBytes(bytes);
        bytes[10] = 0;
        File.WriteAllBytes(path, bytes);
        var result = PolicyChecker.CheckFile(path);
        Assert.Equal("not-text", Assert.Single(result.Diagnostics).Code);
    }

    [Fact]
    public void Invalid_UTF8_is_refused()
    {
        var path = Path.Combine(_temp.Directory, "corral.yaml");
        File.WriteAllBytes(path, [.. "version: 1\nname: "u8.ToArray(), 0xC3, 0x28, (byte)'\n']);
        Assert.Equal("not-text", Assert.Single(PolicyChecker.CheckFile(path).Diagnostics).Code);
    }

    [Fact]
    public void A_huge_file_is_refused_before_it_is_read()
    {
        var path = Path.Combine(_temp.Directory, "corral.yaml");
        using (var f = new FileStream(path, FileMode.Create))
            f.SetLength(65L * 1024 * 1024); // sparse: costs no disk
        var before = GC.GetAllocatedBytesForCurrentThread();
        var result = PolicyChecker.CheckFile(path);
        Assert.Equal("file-too-large", Assert.Single(result.Diagnostics).Code);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1_000_000);
    }

    [Fact]
    public void A_binary_feed_is_refused()
    {
        File.WriteAllBytes(Path.Combine(_temp.Directory, "feed.bin"), [1, 2, 0, 4, (byte)'\n']);
        var result = _temp.Check("version: 1\nthreatGroups:\n  bad: { feeds: [feed.bin] }\nrules:\n  - { name: r, priority: 1, destination: [bad], action: deny }\n");
        Assert.Contains(result.Diagnostics, d => d.Code == "not-text");
        Assert.False(result.Succeeded);
    }

    [Theory]
    [InlineData("- just\n- a list\n")]
    [InlineData("plain scalar\n")]
    [InlineData("version: 1\n---\nversion: 1\n")]
    [InlineData("version: 1\nrules: {\n")]
    [InlineData("version: 1\nrules:\n  - !!custom { name: r }\n")]
    [InlineData("")]
    public void Documents_of_the_wrong_shape_are_refused_with_a_location(string yaml)
    {
        var result = _temp.Check(yaml);
        Assert.False(result.Succeeded);
        Assert.Contains(result.Diagnostics, d => d.IsError);
    }

    [Fact]
    public void A_YAML_syntax_error_has_its_line_and_column()
    {
        var result = _temp.Check("version: 1\nrules:\n  - { name: r, priority: 1, action: deny\n");
        var d = Assert.Single(result.Diagnostics, d => d.Code == "yaml-syntax");
        Assert.True(d.Location.Line >= 3);
    }

    [Theory]
    [InlineData("a: {\nb: c\n")]
    [InlineData("rules: [\n  x\ny: 1\n")]
    [InlineData("a: {# x\nb: c\n")]
    public void YAML_that_crashes_the_parser_is_a_located_error(string yaml)
    {
        var result = _temp.Check(yaml);
        Assert.False(result.Succeeded);
        Assert.Contains(result.Diagnostics, d => d.Code == "yaml-syntax" && d.Location.Line > 0);
    }

    [Fact]
    public void A_device_as_a_feed_or_service_tags_file_is_refused_not_read_forever()
    {
        var result = _temp.Check("version: 1\nthreatGroups:\n  bad: { feeds: [/dev/zero] }\nserviceTags: { file: /dev/urandom }\nrules:\n  - { name: r, priority: 1, destination: [bad], action: deny }\n");
        Assert.False(result.Succeeded);
        Assert.Contains(result.Diagnostics, d => d.Code == "service-tags-unreadable" || d.Code == "bad-service-tags");
    }

    [Fact]
    public void A_FIFO_as_a_feed_is_refused_within_moments()
    {
        var fifo = Path.Combine(_temp.Directory, "feed.fifo");
        var made = System.Diagnostics.Process.Start("mkfifo", fifo);
        made.WaitForExit();
        Assert.Equal(0, made.ExitCode);
        var result = _temp.Check("version: 1\nthreatGroups:\n  bad: { feeds: [feed.fifo] }\nrules:\n  - { name: r, priority: 1, destination: [bad], action: deny }\n");
        Assert.Contains(result.Diagnostics, d => d.Code == "feed-unreadable" && d.Message.Contains("regular file"));
    }

    [Fact]
    public void Feed_errors_do_not_echo_the_file_contents()
    {
        _temp.Write("secret.txt", "root:$y$j9T$secrethash:19000:0:99999:7:::\n");
        var result = _temp.Check("version: 1\nthreatGroups:\n  bad: { feeds: [secret.txt] }\nrules:\n  - { name: r, priority: 1, destination: [bad], action: deny }\n");
        Assert.DoesNotContain(result.Diagnostics, d => d.ToString().Contains("secrethash"));
    }

    [Fact]
    public void Suggestions_stay_fast_on_a_policy_full_of_typos()
    {
        var groups = string.Join("\n", Enumerable.Range(0, 3000).Select(i => $"  g{i}: {{ cidrs: [10.{i / 250}.{i % 250}.0/24] }}"));
        var rules = string.Join("\n", Enumerable.Range(0, 3000).Select(i => $"  - {{ name: r{i}, priority: {i}, source: [x{i}], action: deny }}"));
        var before = GC.GetAllocatedBytesForCurrentThread();
        var result = _temp.Check($"version: 1\nsmartGroups:\n{groups}\nrules:\n{rules}\n");
        Assert.Equal(3000, result.Diagnostics.Count(d => d.Code == "unknown-group"));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 4_000_000_000L);
    }
}

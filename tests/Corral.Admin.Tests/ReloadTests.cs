using System.Net;
using System.Net.Sockets;
using System.Text;
using Corral.Admin.Tests.Support;

namespace Corral.Admin.Tests;

/// <summary>Reloads from file changes, through the API and by promotion, on a real gateway; and what must survive them.</summary>
public sealed class ReloadTests
{
    private static string Enforced(string text) => text.Replace("action: deny, mode: watch", "action: deny, mode: enforce");

    [Fact]
    public async Task Editing_the_policy_file_reloads_it()
    {
        await using var live = await LiveHarness.StartAsync();
        Assert.Equal(200, await live.FlowAsync("other.test")); // deny-internet only watches
        var before = live.Hash;

        File.WriteAllText(live.PolicyPath, Enforced(LiveHarness.PolicyText));

        await LiveHarness.EventuallyAsync(async () => await live.FlowAsync("other.test") == 403, "the edited file's enforce to take effect");
        Assert.NotEqual(before, live.Hash);
        // A mode flipped in the file is in force before the compile that confirms it; the status follows that compile.
        await LiveHarness.EventuallyAsync(() => Task.FromResult(live.Reloader.Status.Reloads == 1), "the confirming compile to be reported");
        Assert.Equal(200, await live.FlowAsync("www.example.test"));
        var policy = await live.GetJsonAsync("/api/policy");
        Assert.Equal("file", policy.GetProperty("source").GetString());
        Assert.Equal(live.Hash, policy.GetProperty("hash").GetString());
    }

    [Fact]
    public async Task An_editor_that_saves_by_rename_is_seen()
    {
        await using var live = await LiveHarness.StartAsync();
        var temp = Path.Combine(live.Folder, ".corral.yaml.swp");
        File.WriteAllText(temp, Enforced(LiveHarness.PolicyText));
        File.Move(temp, live.PolicyPath, overwrite: true);

        await LiveHarness.EventuallyAsync(async () => await live.FlowAsync("other.test") == 403, "the renamed-over file to take effect");
        // The watch goes on after the rename: a second edit is seen too.
        File.WriteAllText(live.PolicyPath, LiveHarness.PolicyText);
        await LiveHarness.EventuallyAsync(async () => await live.FlowAsync("other.test") == 200, "the second edit to take effect");
    }

    [Fact]
    public async Task A_file_still_being_written_is_not_read_until_its_writer_closes_it()
    {
        // The first part of the new text is a policy on its own (without deny-internet, so the default deny applies):
        // read mid-write, it would be put in force. inotify's close-write is what the watcher waits for.
        await using var live = await LiveHarness.StartAsync();
        var before = (live.Hash, live.Reloader.Status.Reloads);
        var full = Encoding.UTF8.GetBytes(Enforced(LiveHarness.PolicyText));
        var cut = Enforced(LiveHarness.PolicyText).IndexOf("  - { name: deny-internet", StringComparison.Ordinal);
        Assert.True(Corral.Policy.PolicyChecker.CheckText(live.PolicyPath, Enforced(LiveHarness.PolicyText)[..cut], live.Folder).Succeeded);
        await using (var writer = new FileStream(live.PolicyPath, FileMode.Create, FileAccess.Write, FileShare.ReadWrite))
        {
            await writer.WriteAsync(full.AsMemory(0, cut));
            await writer.FlushAsync();
            await Task.Delay(400); // far beyond the debounce: a watcher without close-write would have read the half file
            Assert.Equal(before, (live.Hash, live.Reloader.Status.Reloads));
            Assert.Equal(200, await live.FlowAsync("other.test"));
            await writer.WriteAsync(full.AsMemory(cut));
        }
        await LiveHarness.EventuallyAsync(async () => await live.FlowAsync("other.test") == 403, "the finished file to take effect");
        // In force before the compile that confirms it (a mode flip); the status follows that compile.
        await LiveHarness.EventuallyAsync(() => Task.FromResult(live.Reloader.Status.Reloads > before.Reloads), "the confirming compile to be reported");
        Assert.Equal(before.Reloads + 1, live.Reloader.Status.Reloads);
        Assert.Equal(Corral.Policy.PolicyChecker.CheckFile(live.PolicyPath, options: live.Reloader.Options).Compiled!.Hash, live.Hash);
    }

    [Fact]
    public async Task Editing_a_feed_file_reloads_the_policy()
    {
        await using var live = await LiveHarness.StartAsync();
        Assert.Equal(200, await live.FlowAsync("www.example.test"));
        File.AppendAllText(live.FeedPath, "www.example.test\n");
        await LiveHarness.EventuallyAsync(async () => await live.FlowAsync("www.example.test") == 403, "the feed entry to deny www.example.test");
        var denied = await live.GetJsonAsync("/api/flows?rule=deny-threats&host=www.example&limit=5");
        Assert.NotEmpty(denied.GetProperty("flows").EnumerateArray());
    }

    [Fact]
    public async Task A_new_feed_file_is_watched_after_the_reload_that_adds_it()
    {
        await using var live = await LiveHarness.StartAsync();
        var extra = Path.Combine(live.Folder, "more", "extra.txt");
        Directory.CreateDirectory(Path.GetDirectoryName(extra)!);
        File.WriteAllText(extra, "# empty\n");
        File.WriteAllText(live.PolicyPath, LiveHarness.PolicyText.Replace("feeds: [feeds/bad.txt]", "feeds: [feeds/bad.txt, more/extra.txt]"));
        await LiveHarness.EventuallyAsync(() => Task.FromResult(live.Gateway.Policy.Current.Document.InputFiles.Contains(extra)), "the policy naming the new feed to load");

        File.AppendAllText(extra, "other.test\n");
        await LiveHarness.EventuallyAsync(async () => await live.FlowAsync("other.test") == 403, "the new feed file's entry to take effect");
    }

    [Fact]
    public async Task PUT_policy_applies_at_once_and_writes_the_file()
    {
        await using var live = await LiveHarness.StartAsync();
        var before = live.Hash;
        var text = Enforced(LiveHarness.PolicyText);
        using var response = await live.Http.SendAsync(live.Authorized(HttpMethod.Put, "/api/policy", new StringContent(text)));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        Assert.Equal(403, await live.FlowAsync("other.test")); // the very next flow, no waiting
        Assert.NotEqual(before, live.Hash);
        Assert.Equal(text, File.ReadAllText(live.PolicyPath));
        var policy = await live.GetJsonAsync("/api/policy");
        Assert.Equal("api", policy.GetProperty("source").GetString());
        Assert.Equal(JsonValueKindNull, policy.GetProperty("drift").ValueKind);
    }

    private const System.Text.Json.JsonValueKind JsonValueKindNull = System.Text.Json.JsonValueKind.Null;

    [Fact]
    public async Task Promoting_a_rule_takes_effect_on_the_next_flow_and_is_written_back()
    {
        await using var live = await LiveHarness.StartAsync();
        Assert.Equal(200, await live.FlowAsync("other.test"));
        using var response = await live.Http.SendAsync(live.Authorized(HttpMethod.Post, "/api/rules/deny-internet/mode",
            new StringContent("{\"mode\":\"enforce\"}", Encoding.UTF8, "application/json")));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        Assert.Equal(403, await live.FlowAsync("other.test"));
        var file = File.ReadAllText(live.PolicyPath);
        Assert.Contains("name: deny-internet, priority: 3, source: [agents], destination: [public-internet], action: deny, mode: enforce", file);
        Assert.Contains("name: allow-web, priority: 2", file); // nothing else touched
        Assert.Equal("promotion", (await live.GetJsonAsync("/api/policy")).GetProperty("source").GetString());

        // And back: watch again.
        using var back = await live.Http.SendAsync(live.Authorized(HttpMethod.Post, "/api/rules/deny-internet/mode?mode=watch"));
        Assert.Equal(HttpStatusCode.OK, back.StatusCode);
        Assert.Equal(200, await live.FlowAsync("other.test"));
        Assert.Equal(LiveHarness.PolicyText, File.ReadAllText(live.PolicyPath));
    }

    [Fact]
    public async Task A_promotion_leaves_in_force_exactly_what_compiling_the_written_file_gives()
    {
        // The promotion puts a derived policy in force before compiling the edited text; once the call returns, the
        // policy in force must be the full compile: its hash, its rules and the edited rule's source location.
        await using var live = await LiveHarness.StartAsync();
        var before = live.Reloader.Status;
        var (result, outcome, error) = await live.Reloader.SetRuleModeAsync("deny-internet", Corral.Policy.Model.RuleMode.Enforce);
        Assert.Equal(Corral.Gateway.Reload.ModeChangeResult.Applied, result);
        Assert.Null(error);
        Assert.True(outcome!.Changed);

        var fresh = Corral.Policy.PolicyChecker.CheckFile(live.PolicyPath, options: live.Reloader.Options);
        Assert.True(fresh.Succeeded);
        var inForce = live.Reloader.Target.Current;
        Assert.Equal(fresh.Compiled!.Hash, inForce.Hash);
        Assert.Equal(fresh.Compiled.Hash, live.Reloader.Status.Hash);
        Assert.Equal(before.Reloads + 1, live.Reloader.Status.Reloads);
        var rule = inForce.Document.Rules.Single(r => r.Name == "deny-internet");
        Assert.Equal(Corral.Policy.Model.RuleMode.Enforce, rule.Mode);
        Assert.Equal(fresh.Document!.Rules.Single(r => r.Name == "deny-internet").LocationOf("mode"), rule.LocationOf("mode"));
        Assert.Equal(403, await live.FlowAsync("other.test"));

        // The same mode again changes nothing and counts nothing.
        var (again, sameOutcome, _) = await live.Reloader.SetRuleModeAsync("deny-internet", Corral.Policy.Model.RuleMode.Enforce);
        Assert.Equal(Corral.Gateway.Reload.ModeChangeResult.Applied, again);
        Assert.False(sameOutcome!.Changed);
        Assert.Equal(before.Reloads + 1, live.Reloader.Status.Reloads);
    }

    [Fact]
    public async Task A_mode_flipped_in_the_file_is_in_force_before_its_compile_which_confirms_it()
    {
        // A file edit that only flips one rule's mode is put in force derived from the policy in force (as a promotion
        // is), then the full compile replaces it with the same hash. Any other edit is compiled first: one swap.
        await using var live = await LiveHarness.StartAsync();
        var swaps = new System.Collections.Concurrent.ConcurrentQueue<Corral.Policy.Compilation.CompiledPolicy>();
        live.Reloader.Target.Swapped += swaps.Enqueue;

        File.WriteAllText(live.PolicyPath, Enforced(LiveHarness.PolicyText));
        await LiveHarness.EventuallyAsync(() => Task.FromResult(live.Reloader.Status.Reloads == 1), "the flipped mode to be reloaded");
        var fresh = Corral.Policy.PolicyChecker.CheckFile(live.PolicyPath, options: live.Reloader.Options).Compiled!;
        var flip = swaps.ToArray();
        Assert.Equal(2, flip.Length);
        Assert.All(flip, p => Assert.Equal(fresh.Hash, p.Hash));
        Assert.True(flip[0].IsDerived);
        Assert.False(flip[1].IsDerived); // compiled
        Assert.Equal(Corral.Policy.Model.RuleMode.Enforce, flip[0].Document.Rules.Single(r => r.Name == "deny-internet").Mode);
        Assert.Equal(403, await live.FlowAsync("other.test"));

        swaps.Clear();
        File.WriteAllText(live.PolicyPath, Enforced(LiveHarness.PolicyText).Replace("priority: 2,", "priority: 4,"));
        await LiveHarness.EventuallyAsync(() => Task.FromResult(live.Reloader.Status.Reloads == 2), "the other edit to be reloaded");
        Assert.Single(swaps);
        Assert.False(swaps.Single().IsDerived);
    }

    [Fact]
    public async Task A_promotion_edits_the_file_as_it_stands_when_it_moved_on_since_the_last_reload()
    {
        // Not watching: the file gains a comment line (every offset moves) that no reload has seen. The promotion must
        // edit the file's text, not the text in force, and put both changes in force.
        await using var live = await LiveHarness.StartAsync(watch: false);
        var moved = "# reviewed 2026-11-26\n" + LiveHarness.PolicyText;
        File.WriteAllText(live.PolicyPath, moved);

        var (result, _, error) = await live.Reloader.SetRuleModeAsync("deny-internet", Corral.Policy.Model.RuleMode.Enforce);
        Assert.Equal(Corral.Gateway.Reload.ModeChangeResult.Applied, result);
        Assert.Null(error);
        Assert.Equal(Enforced(moved), File.ReadAllText(live.PolicyPath));
        Assert.Equal(Corral.Policy.PolicyChecker.CheckFile(live.PolicyPath, options: live.Reloader.Options).Compiled!.Hash, live.Hash);
        Assert.Equal(403, await live.FlowAsync("other.test"));
    }

    [Fact]
    public async Task A_FIFO_renamed_over_the_policy_neither_hangs_reloads_nor_changes_the_policy()
    {
        await using var live = await LiveHarness.StartAsync();
        var before = live.Hash;
        var fifo = Path.Combine(live.Folder, "policy.fifo");
        using (var made = System.Diagnostics.Process.Start("mkfifo", fifo)) { made.WaitForExit(); Assert.Equal(0, made.ExitCode); }
        File.Move(fifo, live.PolicyPath, overwrite: true);
        await LiveHarness.EventuallyAsync(() => Task.FromResult(live.Reloader.Status.Failing), "the FIFO to be refused");
        Assert.Contains("regular file", live.Reloader.Status.LastError!.Message);
        // The reload lock is free again: a promotion is answered (refused: the file is not readable), not left waiting.
        var promotion = live.Reloader.SetRuleModeAsync("deny-internet", Corral.Policy.Model.RuleMode.Enforce);
        Assert.Same(promotion, await Task.WhenAny(promotion, Task.Delay(TimeSpan.FromSeconds(20))));
        Assert.Equal(Corral.Gateway.Reload.ModeChangeResult.Failed, (await promotion).Result);
        Assert.Equal(before, live.Hash);
        File.Delete(live.PolicyPath);
        File.WriteAllText(live.PolicyPath, LiveHarness.PolicyText); // for the harness's own clean-up
    }

    [Fact]
    public async Task Putting_a_broken_file_back_as_it_was_clears_the_reported_failure()
    {
        await using var live = await LiveHarness.StartAsync();
        File.WriteAllText(live.PolicyPath, LiveHarness.PolicyText.Replace("action: permit", "action: maybe"));
        await LiveHarness.EventuallyAsync(() => Task.FromResult(live.Reloader.Status.Failing), "the broken file to be reported");
        File.WriteAllText(live.PolicyPath, LiveHarness.PolicyText); // the text in force, byte for byte
        await LiveHarness.EventuallyAsync(() => Task.FromResult(!live.Reloader.Status.Failing), "the failure to clear");
    }

    [Fact]
    public async Task Warming_the_reload_path_changes_nothing_in_force_or_on_disk()
    {
        await using var live = await LiveHarness.StartAsync();
        var before = (live.Hash, live.Reloader.Status.Reloads, live.Reloader.Status.Failures, File.ReadAllText(live.PolicyPath), File.GetLastWriteTimeUtc(live.PolicyPath));
        live.Reloader.WarmUp(rounds: 5);
        Assert.Equal(before, (live.Hash, live.Reloader.Status.Reloads, live.Reloader.Status.Failures, File.ReadAllText(live.PolicyPath), File.GetLastWriteTimeUtc(live.PolicyPath)));
        Assert.Equal(200, await live.FlowAsync("other.test")); // deny-internet still only watches
    }

    [Fact]
    public async Task Promoting_with_a_read_only_file_applies_in_memory_and_reports_drift()
    {
        await using var live = await LiveHarness.StartAsync();
        File.SetUnixFileMode(live.PolicyPath, UnixFileMode.UserRead | UnixFileMode.GroupRead);
        using var response = await live.Http.SendAsync(live.Authorized(HttpMethod.Post, "/api/rules/deny-internet/mode", new StringContent("enforce")));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("read-only", await response.Content.ReadAsStringAsync());

        Assert.Equal(403, await live.FlowAsync("other.test"));
        Assert.Equal(LiveHarness.PolicyText, File.ReadAllText(live.PolicyPath)); // untouched
        var policy = await live.GetJsonAsync("/api/policy");
        Assert.Contains("read-only", policy.GetProperty("drift").GetString());
        Assert.Contains(policy.GetProperty("rules").EnumerateArray(), r => r.GetProperty("name").GetString() == "deny-internet" && r.GetProperty("mode").GetString() == "enforce");

        // A file reload that finds the file as it was (a late watcher event, a touch) does not undo the in-memory
        // change; only a real edit of the file does.
        var again = await live.Reloader.ReloadFileAsync();
        Assert.False(again.Changed);
        Assert.Equal(403, await live.FlowAsync("other.test"));
        Assert.Contains("read-only", (await live.GetJsonAsync("/api/policy")).GetProperty("drift").GetString());
    }

    [Fact]
    public async Task A_policy_that_fails_to_compile_leaves_the_previous_in_force_and_is_reported()
    {
        await using var live = await LiveHarness.StartAsync();
        var before = live.Hash;
        File.WriteAllText(live.PolicyPath, LiveHarness.PolicyText.Replace("webGroups: [web]", "webGroups: [no-such-group]"));

        await LiveHarness.EventuallyAsync(async () => (await live.GetJsonAsync("/api/policy")).GetProperty("failing").GetBoolean(), "the failed reload to be reported");
        Assert.Equal(before, live.Hash);
        Assert.Equal(200, await live.FlowAsync("www.example.test"));
        var error = (await live.GetJsonAsync("/api/policy")).GetProperty("lastError");
        Assert.Matches(@"corral\.yaml:\d+:\d+: error: .*no-such-group", error.GetProperty("message").GetString());
        var metrics = await live.Http.GetStringAsync("/metrics");
        Assert.Matches(@"corral_gateway_policy_reload_failures_total\{[^}]*source=""file""[^}]*\} [1-9]", metrics);

        // Fixing the file clears the failure.
        File.WriteAllText(live.PolicyPath, Enforced(LiveHarness.PolicyText));
        await LiveHarness.EventuallyAsync(async () => !(await live.GetJsonAsync("/api/policy")).GetProperty("failing").GetBoolean(), "the fixed file to load");
        Assert.Equal(403, await live.FlowAsync("other.test"));
    }

    [Fact]
    public async Task An_established_tunnel_survives_a_reload_that_would_deny_it()
    {
        await using var live = await LiveHarness.StartAsync();
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(live.Gateway.ListenEndPoint!);
        await using var stream = new NetworkStream(socket);
        var authority = $"www.example.test:{live.Upstream.Port}";
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n"));
        Assert.Equal(200, await LiveHarness.ReadStatusAsync(stream));
        var request = Encoding.ASCII.GetBytes($"GET / HTTP/1.1\r\nHost: {authority}\r\n\r\n");
        await stream.WriteAsync(request);
        Assert.Equal(200, await LiveHarness.ReadStatusAsync(stream));
        Assert.Equal("ok", await ReadBodyAsync(stream));

        // A new policy that denies www.example.test.
        using var put = await live.Http.SendAsync(live.Authorized(HttpMethod.Put, "/api/policy", new StringContent(LiveHarness.PolicyText.Replace("domains: [www.example.test]", "domains: [nothing.example.test]").Replace("mode: watch", "mode: enforce"))));
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        Assert.Equal(403, await live.FlowAsync("www.example.test"));

        // The established tunnel carries on.
        await stream.WriteAsync(request);
        Assert.Equal(200, await LiveHarness.ReadStatusAsync(stream));
        Assert.Equal("ok", await ReadBodyAsync(stream));
    }

    private static async Task<string> ReadBodyAsync(Stream stream)
    {
        var body = new byte[2];
        await stream.ReadExactlyAsync(body);
        return Encoding.ASCII.GetString(body);
    }
}

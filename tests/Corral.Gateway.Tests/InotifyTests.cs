using Corral.Gateway.Reload;

namespace Corral.Gateway.Tests;

/// <summary>The policy watcher's inotify: what wakes it, on real files.</summary>
public sealed class InotifyTests
{
    [Fact]
    public async Task Appending_to_a_file_beside_the_policy_does_not_wake_the_watcher_until_the_writer_closes_it()
    {
        // A flow log kept in the policy's directory is appended to for every batch of records and never closed: each
        // write used to wake the watcher's thread (IN_MODIFY) for nothing.
        Assert.SkipUnless(Inotify.IsSupported, "inotify is Linux only");
        var folder = Directory.CreateTempSubdirectory("corral-inotify-");
        try
        {
            var events = new List<(string? Path, bool Finished)>();
            using var inotify = new Inotify((path, finished) => { lock (events) events.Add((path, finished)); });
            Assert.True(inotify.Add(folder.FullName, out var error) >= 0, error);
            var log = Path.Combine(folder.FullName, "flows.jsonl");
            await using (var writer = new FileStream(log, FileMode.Create, FileAccess.Write, FileShare.ReadWrite))
            {
                await Eventually(() => Count(events) >= 1, "the file's creation to be reported");
                for (var i = 0; i < 50; i++)
                {
                    await writer.WriteAsync("{\"event\":\"decision\"}\n"u8.ToArray());
                    await writer.FlushAsync();
                }
                await Task.Delay(300);
                Assert.Equal(1, Count(events)); // the creation only: no event per write
            }
            await Eventually(() => Count(events) == 2, "the close to be reported");
            lock (events)
            {
                Assert.Equal((log, false), events[0]); // created: still being written
                Assert.Equal((log, true), events[1]); // closed after writing: finished
            }
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    private static int Count(List<(string?, bool)> events)
    {
        lock (events) return events.Count;
    }

    private static async Task Eventually(Func<bool> condition, string what)
    {
        for (var waited = 0; !condition(); waited += 20)
        {
            if (waited > 5000) Assert.Fail($"timed out waiting for {what}");
            await Task.Delay(20);
        }
    }
}

using Corral.Policy.Model;

namespace Corral.Policy.Loading.Sections;

/// <summary>Reads one threat group: reads each feed file it names. One per load: the feeds share one budget of entries.</summary>
internal sealed class ThreatGroupReader(NodeReader nodes, PolicyInputs inputs)
{
    private static readonly string[] Keys = ["feeds"];
    private int _feedEntryBudget = FeedReader.MaxEntries;

    public ThreatGroup? Read(string name, YMapping body)
    {
        nodes.CheckKeys(body, Keys, $"threat group '{name}'");
        var feeds = new List<ThreatFeed>();
        var feedList = nodes.List(NodeReader.Get(body, "feeds"), "feeds");
        if (feedList.Count == 0) nodes.Error("empty-group", body, $"threat group '{name}' needs 'feeds': a list of feed files");
        foreach (var item in feedList)
        {
            if (nodes.String(item, "a feed file path") is not { } relative) continue;
            var full = inputs.FullPath(relative);
            var display = PolicyInputs.DisplayPath(full);
            if (!File.Exists(full))
            {
                nodes.Error("feed-not-found", item, $"feed file '{relative}' not found (looked for {display})",
                    "create it: one IP, CIDR or domain a line, '#' for comments");
                continue;
            }
            if (!BoundedFile.TryRead(full, FeedReader.MaxBytes, out var bytes, out var problem))
            {
                nodes.Error("feed-unreadable", item, $"feed file '{relative}' {problem}");
                continue;
            }
            var (prefixes, domains) = FeedReader.Parse(bytes, display, nodes.Diagnostics, ref _feedEntryBudget);
            inputs.Add(full, bytes);
            feeds.Add(new ThreatFeed(relative, item.Location, prefixes, domains));
        }
        return new ThreatGroup(name, body.Location, feeds);
    }
}

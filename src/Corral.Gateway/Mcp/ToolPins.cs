using System.Text.Json;
using System.Text.Json.Nodes;
using Corral.Interception.Mcp;

namespace Corral.Gateway.Mcp;

/// <summary>What a tools/list answer showed against the pins.</summary>
/// <param name="Changed">Tools added, removed or changed since they were accepted (all of them, including ones already flagged).</param>
/// <param name="NewlyFlagged">Of those, the ones not flagged before (or flagged with another definition): what to alert on.</param>
public sealed record PinComparison(IReadOnlyList<string> Changed, IReadOnlyList<string> NewlyFlagged);

/// <summary>
/// The MCP tool pins, kept in a JSON file next to the policy (<c>NAME.mcp-pins.json</c>): per server, the accepted
/// tools (name and hash of description and input schema) and the pending changes an operator has not yet accepted.
/// The first tools/list answer from a server is accepted as seen. The file is read again when it changes on disk, so
/// <c>corral mcp accept</c> works beside a running gateway. Thread-safe.
/// </summary>
public sealed class ToolPins
{
    private readonly string _path;
    private readonly Lock _lock = new();
    private DateTime _readStamp = DateTime.MinValue;
    private Dictionary<string, ServerPins> _servers = new(StringComparer.Ordinal);

    private sealed class ServerPins
    {
        public Dictionary<string, string> Accepted { get; } = new(StringComparer.Ordinal);
        /// <summary>A changed or added tool's new hash; null for a removed tool.</summary>
        public Dictionary<string, string?> Pending { get; } = new(StringComparer.Ordinal);
    }

    public ToolPins(string path) => _path = path;

    /// <summary>The pin file of a policy: beside it, named after it.</summary>
    public static string PathFor(string policyPath) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(policyPath))!, Path.GetFileNameWithoutExtension(policyPath) + ".mcp-pins.json");

    public string FilePath => _path;

    /// <summary>
    /// Compares a tools/list answer of <paramref name="server"/> with its pins; pins a server seen for the first time.
    /// A name listed twice (in any spelling a client or server may take for the same name) is a change in itself:
    /// which definition a client keeps is unknown. A hold ends only when an operator accepts: a later listing that shows
    /// the accepted definition again does not lift it, since the client that read the change may still act on it.
    /// </summary>
    public PinComparison Observe(string server, McpToolListing listing)
    {
        var groups = listing.Tools.GroupBy(t => Fold(t.Name), StringComparer.Ordinal).ToList();
        lock (_lock)
        {
            Refresh();
            var first = !_servers.TryGetValue(server, out var pins);
            if (pins is null) _servers[server] = pins = new ServerPins();
            var changed = new List<string>();
            var newly = new List<string>();
            var dirty = first;
            void Flag(string name, string? hash)
            {
                if (!changed.Contains(name)) changed.Add(name);
                if (pins.Pending.TryGetValue(name, out var pending) && pending == hash) return;
                pins.Pending[name] = hash;
                newly.Add(name);
                dirty = true;
            }
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var group in groups)
            {
                var definitions = group.ToList();
                foreach (var t in definitions) seen.Add(t.Name);
                if (definitions.Count > 1)
                {
                    var combined = "listed-" + definitions.Count + "-times:" + string.Join(",", definitions.Select(t => t.Hash).Order(StringComparer.Ordinal));
                    foreach (var name in definitions.Select(t => t.Name).Distinct()) Flag(name, combined);
                    continue;
                }
                var tool = definitions[0];
                if (first) { pins.Accepted[tool.Name] = tool.Hash; continue; }
                if (pins.Accepted.TryGetValue(tool.Name, out var accepted) && accepted == tool.Hash)
                {
                    // Back to what was accepted: still held until an operator accepts (it then keeps what it had).
                    if (pins.Pending.TryGetValue(tool.Name, out var pending) && pending != accepted)
                    {
                        pins.Pending[tool.Name] = accepted;
                        dirty = true;
                    }
                    continue;
                }
                Flag(tool.Name, tool.Hash);
            }
            if (listing.Complete && !first)
                foreach (var name in pins.Accepted.Keys.Where(n => !seen.Contains(n)).ToList()) Flag(name, null);
            if (dirty) Save();
            return new(changed, newly);
        }
    }

    /// <summary>
    /// Whether calls to <paramref name="tool"/> on <paramref name="server"/> wait for an operator: it was added or
    /// changed. Names are compared as <see cref="Fold"/> does, so a call never escapes a hold by another spelling.
    /// </summary>
    public bool IsHeld(string server, string tool)
    {
        var folded = Fold(tool);
        lock (_lock)
        {
            Refresh();
            return _servers.TryGetValue(server, out var pins) && pins.Pending.Any(p => p.Value is not null && Fold(p.Key) == folded);
        }
    }

    /// <summary>
    /// A tool name as the loosest reader compares it: compatibility-normalized (NFKC) and in upper case, so names
    /// that differ only in case or in Unicode form count as one.
    /// </summary>
    public static string Fold(string name)
    {
        try
        {
            return name.Normalize(System.Text.NormalizationForm.FormKC).ToUpperInvariant();
        }
        catch (ArgumentException)
        {
            return name.ToUpperInvariant(); // not valid Unicode: compared as it is
        }
    }

    /// <summary>Accepts a server's pending changes as its new pins; returns the tools accepted (empty when none were pending).</summary>
    public IReadOnlyList<string> Accept(string server)
    {
        lock (_lock)
        {
            Refresh();
            if (!_servers.TryGetValue(server, out var pins) || pins.Pending.Count == 0) return [];
            var names = pins.Pending.Keys.Order(StringComparer.Ordinal).ToList();
            foreach (var (name, hash) in pins.Pending)
                if (hash is null) pins.Accepted.Remove(name); else pins.Accepted[name] = hash;
            pins.Pending.Clear();
            Save();
            return names;
        }
    }

    /// <summary>Each pinned server with its accepted tools and pending changes (for the admin API and the CLI).</summary>
    public IReadOnlyList<(string Server, IReadOnlyList<string> Tools, IReadOnlyList<string> Pending)> Snapshot()
    {
        lock (_lock)
        {
            Refresh();
            return _servers.OrderBy(s => s.Key, StringComparer.Ordinal)
                .Select(s => (s.Key, (IReadOnlyList<string>)s.Value.Accepted.Keys.Order(StringComparer.Ordinal).ToList(),
                    (IReadOnlyList<string>)s.Value.Pending.Keys.Order(StringComparer.Ordinal).ToList())).ToList();
        }
    }

    // Reads the file again when it changed on disk since it was last read or written here.
    private void Refresh()
    {
        var stamp = File.Exists(_path) ? File.GetLastWriteTimeUtc(_path) : DateTime.MinValue;
        if (stamp == _readStamp) return;
        _servers = stamp == DateTime.MinValue ? new(StringComparer.Ordinal) : Parse(File.ReadAllText(_path), _path);
        _readStamp = stamp;
    }

    private static Dictionary<string, ServerPins> Parse(string json, string path)
    {
        var servers = new Dictionary<string, ServerPins>(StringComparer.Ordinal);
        try
        {
            var root = JsonNode.Parse(json)?.AsObject() ?? throw new JsonException("empty");
            foreach (var (server, node) in root["servers"]?.AsObject() ?? [])
            {
                var pins = new ServerPins();
                foreach (var (tool, hash) in node?["tools"]?.AsObject() ?? []) pins.Accepted[tool] = hash!.GetValue<string>();
                foreach (var (tool, hash) in node?["pending"]?.AsObject() ?? []) pins.Pending[tool] = hash?.GetValue<string>();
                servers[server] = pins;
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{path}: not a Corral MCP pin file ({e.Message})", e);
        }
        return servers;
    }

    private void Save()
    {
        var servers = new JsonObject();
        foreach (var (server, pins) in _servers.OrderBy(s => s.Key, StringComparer.Ordinal))
        {
            var tools = new JsonObject();
            foreach (var (name, hash) in pins.Accepted.OrderBy(t => t.Key, StringComparer.Ordinal)) tools[name] = hash;
            var pending = new JsonObject();
            foreach (var (name, hash) in pins.Pending.OrderBy(t => t.Key, StringComparer.Ordinal)) pending[name] = hash;
            servers[server] = new JsonObject { ["tools"] = tools, ["pending"] = pending };
        }
        var text = new JsonObject { ["servers"] = servers }.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
        var temp = _path + ".tmp";
        File.WriteAllText(temp, text + "\n");
        File.Move(temp, _path, overwrite: true);
        _readStamp = File.GetLastWriteTimeUtc(_path);
    }
}

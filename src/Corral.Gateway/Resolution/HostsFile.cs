using System.Net;
using Corral.Policy.Addressing;

namespace Corral.Gateway.Resolution;

/// <summary>A static name → addresses map read from a file in /etc/hosts format ("ADDRESS NAME [NAME…]", '#' comments).</summary>
public sealed class HostsFile
{
    private readonly Dictionary<string, List<IPAddress>> _map;

    private HostsFile(Dictionary<string, List<IPAddress>> map) => _map = map;

    public static HostsFile Empty { get; } = new(new Dictionary<string, List<IPAddress>>(StringComparer.Ordinal));

    /// <summary>Reads the file; a line that does not parse is an error naming the line (never half-loaded).</summary>
    public static HostsFile Load(string path)
    {
        var map = new Dictionary<string, List<IPAddress>>(StringComparer.Ordinal);
        var lineNumber = 0;
        foreach (var raw in File.ReadLines(path))
        {
            lineNumber++;
            var hash = raw.IndexOf('#');
            var line = (hash >= 0 ? raw[..hash] : raw).Trim();
            if (line.Length == 0) continue;
            var fields = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 2 || !IPAddress.TryParse(fields[0], out var address))
                throw new FormatException($"{path}:{lineNumber}: expected 'ADDRESS NAME [NAME...]'");
            address = IpBits.Canonical(address);
            foreach (var name in fields.Skip(1))
            {
                if (!HostName.TryNormalize(name, out var host, out var error))
                    throw new FormatException($"{path}:{lineNumber}: '{name}': {error}");
                if (!map.TryGetValue(host, out var list)) map[host] = list = [];
                if (!list.Contains(address)) list.Add(address);
            }
        }
        return new HostsFile(map);
    }

    public bool TryLookup(string host, out IReadOnlyList<IPAddress> addresses)
    {
        var found = _map.TryGetValue(host, out var list);
        addresses = list ?? [];
        return found;
    }
}

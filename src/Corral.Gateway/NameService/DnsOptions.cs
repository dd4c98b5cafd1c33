using System.Net;

namespace Corral.Gateway.NameService;

/// <summary>The gateway's resolver for the agent subnet (<c>corral gateway --dns</c>).</summary>
public sealed record DnsOptions
{
    /// <summary>Where queries are served, over UDP and TCP on the same port.</summary>
    public required IPEndPoint Listen { get; init; }

    /// <summary>The resolver asked for names the policy could permit.</summary>
    public required IPEndPoint Upstream { get; init; }

    /// <summary>Queries a second each source may send (a token bucket); more are answered REFUSED.</summary>
    public double QueriesPerSecondPerSource { get; init; } = 200;

    /// <summary>The bucket's size: a burst this long passes at once.</summary>
    public double Burst { get; init; } = 400;

    public TimeSpan UpstreamTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Upstream answers kept for their TTL.</summary>
    public int CacheEntries { get; init; } = 10_000;

    /// <summary>Address → resolved-name entries kept for logging address-only flows.</summary>
    public int NameEntries { get; init; } = 65_536;

    /// <summary>Upstream queries in flight at once; more are answered SERVFAIL.</summary>
    public int MaxPendingUpstream { get; init; } = 1024;

    /// <summary>TCP clients served at once.</summary>
    public int MaxTcpConnections { get; init; } = 256;

    /// <summary>A TCP client that sends nothing for this long is closed.</summary>
    public TimeSpan TcpIdleTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The first <c>nameserver</c> of a resolv.conf file, port 53; null when it names none.</summary>
    public static IPEndPoint? FirstNameServer(string resolvConfPath)
    {
        foreach (var line in File.ReadLines(resolvConfPath))
        {
            var fields = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length >= 2 && fields[0] == "nameserver" && IPAddress.TryParse(fields[1].Split('%')[0], out var address))
                return new IPEndPoint(address, 53);
        }
        return null;
    }
}

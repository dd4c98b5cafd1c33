using System.Net;
using System.Net.Sockets;
using Corral.Policy.Addressing;

namespace Corral.Gateway.Resolution;

/// <summary>Turns a host name into the addresses the gateway may dial: the hosts file first, then DNS.</summary>
public interface IResolver
{
    /// <summary>Every address for the name (empty when it does not resolve); the caller checks each one with the policy.</summary>
    ValueTask<IReadOnlyList<IPAddress>> ResolveAsync(string host, CancellationToken cancellationToken);
}

/// <summary>The gateway's own resolver: the client's idea of where a name points is never trusted.</summary>
public sealed class Resolver(HostsFile hosts) : IResolver
{
    public async ValueTask<IReadOnlyList<IPAddress>> ResolveAsync(string host, CancellationToken cancellationToken)
    {
        if (hosts.TryLookup(host, out var fixedAddresses)) return fixedAddresses;
        try
        {
            var found = await Dns.GetHostAddressesAsync(host, cancellationToken).ConfigureAwait(false);
            var result = new List<IPAddress>(found.Length);
            foreach (var a in found)
                if (a.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6) result.Add(IpBits.Canonical(a));
            return result;
        }
        catch (SocketException)
        {
            return []; // fail closed: an unresolvable name is never dialled
        }
    }
}

using System.Net;
using System.Net.NetworkInformation;
using Corral.Policy.Addressing;

namespace Corral.Gateway.Proxy;

/// <summary>
/// Knows the gateway's own listening endpoints, so a flow is never dialled back into the gateway: a loop would
/// multiply one connection into many until the connection limit is hit.
/// </summary>
internal sealed class SelfGuard
{
    private readonly List<IPEndPoint> _listeners = [];
    private HashSet<IPAddress> _localAddresses = [];

    public void Add(IPEndPoint listener)
    {
        lock (_listeners)
        {
            _listeners.Add(listener);
            if (listener.Address.Equals(IPAddress.Any) || listener.Address.Equals(IPAddress.IPv6Any))
                _localAddresses = LocalAddresses();
        }
    }

    public bool IsSelf(IPEndPoint target)
    {
        var address = IpBits.Canonical(target.Address);
        lock (_listeners)
        {
            foreach (var l in _listeners)
            {
                if (l.Port != target.Port) continue;
                if (IpBits.Canonical(l.Address).Equals(address)) return true;
                var wildcard = l.Address.Equals(IPAddress.Any) || l.Address.Equals(IPAddress.IPv6Any);
                if (wildcard && (IPAddress.IsLoopback(address) || _localAddresses.Contains(address))) return true;
            }
        }
        return false;
    }

    private static HashSet<IPAddress> LocalAddresses()
    {
        var set = new HashSet<IPAddress>();
        try
        {
            foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
                foreach (var a in nic.GetIPProperties().UnicastAddresses)
                    set.Add(IpBits.Canonical(a.Address));
        }
        catch (NetworkInformationException) { /* then only loopback and exact matches are known */ }
        return set;
    }
}

using System.Net;
using System.Net.NetworkInformation;
using Corral.Policy.Addressing;

namespace Corral.Gateway.Proxy;

/// <summary>
/// Knows every endpoint the gateway process listens on — the explicit and transparent listeners, the resolver, the
/// admin API — so a flow is never dialled back into the gateway: a loop multiplies one connection into many, and a
/// tunnel to the admin API or resolver would reach what agents must not.
/// </summary>
internal sealed class SelfGuard
{
    private readonly List<IPEndPoint> _listeners = [];

    public void Add(IPEndPoint listener)
    {
        lock (_listeners) _listeners.Add(new IPEndPoint(IpBits.Canonical(listener.Address), listener.Port));
    }

    /// <summary>
    /// Whether dialling <paramref name="target"/> reaches one of the gateway's own endpoints: the same address, or a
    /// wildcard listener's port on any address of this host (looked up afresh, so addresses added since start count).
    /// An unspecified target (0.0.0.0, ::) connects to this host's loopback.
    /// </summary>
    public bool IsSelf(IPEndPoint target)
    {
        var address = IpBits.Canonical(target.Address);
        if (address.Equals(IPAddress.Any)) address = IPAddress.Loopback;
        else if (address.Equals(IPAddress.IPv6Any)) address = IPAddress.IPv6Loopback;
        var wildcardPort = false;
        lock (_listeners)
        {
            foreach (var l in _listeners)
            {
                if (l.Port != target.Port) continue;
                if (l.Address.Equals(address)) return true;
                wildcardPort |= l.Address.Equals(IPAddress.Any) || l.Address.Equals(IPAddress.IPv6Any);
            }
        }
        // Rare (only a flow to one of the gateway's own port numbers gets here), so the host's addresses are read now.
        return wildcardPort && (IPAddress.IsLoopback(address) || IsLocalAddress(address));
    }

    private static bool IsLocalAddress(IPAddress address)
    {
        try
        {
            foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
                foreach (var a in nic.GetIPProperties().UnicastAddresses)
                    if (IpBits.Canonical(a.Address).Equals(address)) return true;
        }
        catch (NetworkInformationException)
        {
            return true; // cannot tell: fail closed
        }
        return false;
    }
}

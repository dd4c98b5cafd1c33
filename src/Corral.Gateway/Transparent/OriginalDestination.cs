using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Corral.Gateway.Transparent;

/// <summary>
/// Reads where a REDIRECTed connection was going, with getsockopt SO_ORIGINAL_DST (level SOL_IP 0, option 80; for
/// IPv6 IP6T_SO_ORIGINAL_DST at SOL_IPV6 41). Linux only; elsewhere, and for connections not redirected, null.
/// </summary>
internal static class OriginalDestination
{
    private const int SolIp = 0, SolIpv6 = 41, SoOriginalDst = 80;

    public static IPEndPoint? Get(Socket socket)
    {
        if (!OperatingSystem.IsLinux()) return null;
        var local = (IPEndPoint)socket.LocalEndPoint!;
        var isV4 = local.AddressFamily == AddressFamily.InterNetwork || local.Address.IsIPv4MappedToIPv6;
        Span<byte> buffer = stackalloc byte[28];
        try
        {
            if (isV4)
            {
                // sockaddr_in: family (host order), port (network order), address (4 bytes).
                var length = socket.GetRawSocketOption(SolIp, SoOriginalDst, buffer[..16]);
                if (length < 8) return null;
                return new IPEndPoint(new IPAddress(buffer.Slice(4, 4)), BinaryPrimitives.ReadUInt16BigEndian(buffer[2..]));
            }
            // sockaddr_in6: family, port, flowinfo (4), address (16), scope id.
            var length6 = socket.GetRawSocketOption(SolIpv6, SoOriginalDst, buffer);
            if (length6 < 24) return null;
            return new IPEndPoint(new IPAddress(buffer.Slice(8, 16)), BinaryPrimitives.ReadUInt16BigEndian(buffer[2..]));
        }
        catch (SocketException)
        {
            return null; // not redirected (ENOENT) or no conntrack: fail closed at the caller
        }
    }
}

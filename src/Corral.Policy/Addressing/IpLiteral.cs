using System.Net;
using System.Net.Sockets;

namespace Corral.Policy.Addressing;

/// <summary>
/// Reads a destination the way resolvers and browsers do, so an address is never mistaken for a name:
/// dotted, shortened (127.1), decimal (2130706433), octal (0177.0.0.1), hex (0x7f000001), bracketed and
/// IPv4-mapped IPv6.
/// </summary>
public static class IpLiteral
{
    public static bool TryParse(string? text, out IPAddress address)
    {
        address = IPAddress.None;
        if (string.IsNullOrEmpty(text)) return false;
        ReadOnlySpan<char> s = text.AsSpan().Trim();
        if (s.Length > 2 && s[0] == '[' && s[^1] == ']')
        {
            s = s[1..^1];
            if (!s.Contains(':')) return false;
        }
        if (s.Contains(':'))
        {
            if (s.Contains('%')) return false; // zone ids are not destinations
            if (!IPAddress.TryParse(s, out var v6) || v6.AddressFamily != AddressFamily.InterNetworkV6) return false;
            address = IpBits.Canonical(v6);
            return true;
        }
        if (s.Length > 0 && s[^1] == '.') s = s[..^1];
        return TryParseInetAton(s, out address);
    }

    // inet_aton: 1 to 4 parts; each decimal, 0-prefixed octal or 0x-prefixed hex; the last part fills the rest.
    private static bool TryParseInetAton(ReadOnlySpan<char> s, out IPAddress address)
    {
        address = IPAddress.None;
        if (s.IsEmpty) return false;
        Span<Range> ranges = stackalloc Range[5];
        var count = s.Split(ranges, '.');
        if (count is < 1 or > 4) return false;
        Span<ulong> parts = stackalloc ulong[4];
        for (var i = 0; i < count; i++)
        {
            if (!TryParsePart(s[ranges[i]], out parts[i])) return false;
        }
        ulong value = 0;
        for (var i = 0; i < count - 1; i++)
        {
            if (parts[i] > 255) return false;
            value |= parts[i] << (24 - 8 * i);
        }
        var lastBits = 32 - 8 * (count - 1);
        var last = parts[count - 1];
        if (last >= (1UL << lastBits)) return false;
        value |= last;
        Span<byte> bytes = stackalloc byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(bytes, (uint)value);
        address = new IPAddress(bytes);
        return true;
    }

    private static bool TryParsePart(ReadOnlySpan<char> part, out ulong value)
    {
        value = 0;
        if (part.IsEmpty) return false;
        int radix = 10;
        if (part.Length >= 2 && part[0] == '0' && (part[1] == 'x' || part[1] == 'X'))
        {
            radix = 16;
            part = part[2..];
            if (part.IsEmpty) return true; // "0x" is zero, as inet_aton reads it
        }
        else if (part.Length >= 2 && part[0] == '0')
        {
            radix = 8;
            part = part[1..];
        }
        foreach (var c in part)
        {
            int digit = c switch
            {
                >= '0' and <= '9' => c - '0',
                >= 'a' and <= 'f' => c - 'a' + 10,
                >= 'A' and <= 'F' => c - 'A' + 10,
                _ => 99,
            };
            if (digit >= radix) return false;
            value = value * (ulong)radix + (ulong)digit;
            if (value > uint.MaxValue) return false;
        }
        return true;
    }
}

using System.Net;
using System.Net.Sockets;

namespace Corral.Policy.Addressing;

/// <summary>An IPv4 or IPv6 prefix in a compact value form (IPv4 in the low 32 bits).</summary>
public readonly record struct IpPrefix(UInt128 Bits, byte Length, bool IsV4)
{
    public int MaxLength => IsV4 ? 32 : 128;

    /// <summary>The first address of the prefix, as a number in its family's space.</summary>
    public UInt128 First => Bits;

    /// <summary>The last address of the prefix, as a number in its family's space.</summary>
    public UInt128 Last => Bits | HostMask(Length, IsV4);

    public static IpPrefix Host(IPAddress address)
    {
        var (bits, v4) = IpBits.From(address);
        return new IpPrefix(bits, (byte)(v4 ? 32 : 128), v4);
    }

    public bool Contains(IpPrefix other) =>
        other.IsV4 == IsV4 && other.Length >= Length && (other.Bits & ~HostMask(Length, IsV4) & FamilyMask(IsV4)) == Bits;

    public bool Contains(IPAddress address) => Contains(Host(address));

    public override string ToString()
    {
        var address = IpBits.ToAddress(Bits, IsV4);
        return $"{address}/{Length}";
    }

    internal static UInt128 HostMask(int length, bool v4)
    {
        var width = v4 ? 32 : 128;
        var hostBits = width - length;
        if (hostBits <= 0) return UInt128.Zero;
        return hostBits >= 128 ? UInt128.MaxValue : (UInt128.One << hostBits) - 1;
    }

    private static UInt128 FamilyMask(bool v4) => v4 ? uint.MaxValue : UInt128.MaxValue;

    /// <summary>
    /// Parses a policy CIDR strictly: dotted-quad IPv4 without leading zeros (which some parsers read as octal)
    /// or IPv6, an optional /length (a bare address is a host prefix), and no host bits set.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<char> text, out IpPrefix prefix, out string? error)
    {
        prefix = default;
        text = text.Trim();
        var slash = text.IndexOf('/');
        var addressText = slash < 0 ? text : text[..slash];
        if (!TryParseStrictAddress(addressText, out var address, out error)) return false;
        var (bits, v4) = IpBits.From(address);
        var max = v4 ? 32 : 128;
        var length = max;
        if (slash >= 0)
        {
            var lengthText = text[(slash + 1)..];
            if (lengthText.Length is 0 or > 3 || !int.TryParse(lengthText, System.Globalization.NumberStyles.None, null, out length) || length > max)
            {
                error = $"prefix length must be a number from 0 to {max}";
                return false;
            }
        }
        var hostMask = HostMask(length, v4);
        if ((bits & hostMask) != UInt128.Zero)
        {
            var network = new IpPrefix(bits & ~hostMask & FamilyMask(v4), (byte)length, v4);
            error = $"host bits are set; did you mean {network}?";
            return false;
        }
        prefix = new IpPrefix(bits, (byte)length, v4);
        error = null;
        return true;
    }

    private static bool TryParseStrictAddress(ReadOnlySpan<char> text, out IPAddress address, out string? error)
    {
        address = IPAddress.None;
        if (text.Contains(':'))
        {
            if (!IPAddress.TryParse(text, out var v6) || v6.AddressFamily != AddressFamily.InterNetworkV6 || v6.ScopeId != 0)
            {
                error = "not an IPv6 address";
                return false;
            }
            address = v6.IsIPv4MappedToIPv6 ? v6.MapToIPv4() : v6;
            error = null;
            return true;
        }
        Span<Range> parts = stackalloc Range[5];
        if (text.Split(parts, '.') != 4)
        {
            error = "an IPv4 address has four dotted decimal parts";
            return false;
        }
        Span<byte> bytes = stackalloc byte[4];
        for (var i = 0; i < 4; i++)
        {
            var part = text[parts[i]];
            if (part.Length is 0 or > 3 || (part.Length > 1 && part[0] == '0') ||
                !int.TryParse(part, System.Globalization.NumberStyles.None, null, out var value) || value > 255)
            {
                error = "an IPv4 address has four decimal parts from 0 to 255, without leading zeros";
                return false;
            }
            bytes[i] = (byte)value;
        }
        address = new IPAddress(bytes);
        error = null;
        return true;
    }
}

/// <summary>Conversions between <see cref="IPAddress"/> and numbers, allocation-free on the read side.</summary>
public static class IpBits
{
    /// <summary>The address as a number and its family; IPv4-mapped IPv6 becomes IPv4.</summary>
    public static (UInt128 Bits, bool IsV4) From(IPAddress address)
    {
        Span<byte> buffer = stackalloc byte[16];
        address.TryWriteBytes(buffer, out var written);
        if (written == 4)
            return (System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(buffer), true);
        var value = System.Buffers.Binary.BinaryPrimitives.ReadUInt128BigEndian(buffer);
        if ((value >> 32) == 0xFFFF)
            return ((uint)value, true);
        return (value, false);
    }

    public static IPAddress ToAddress(UInt128 bits, bool v4)
    {
        if (v4)
        {
            Span<byte> b4 = stackalloc byte[4];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(b4, (uint)bits);
            return new IPAddress(b4);
        }
        Span<byte> b16 = stackalloc byte[16];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt128BigEndian(b16, bits);
        return new IPAddress(b16);
    }

    /// <summary>The address in canonical form: IPv4-mapped IPv6 unwrapped to IPv4.</summary>
    public static IPAddress Canonical(IPAddress address) =>
        address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}

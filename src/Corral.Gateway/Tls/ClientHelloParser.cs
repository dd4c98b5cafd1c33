using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using Corral.Gateway.Sniffing;
using Corral.Policy.Addressing;

namespace Corral.Gateway.Tls;

/// <summary>
/// Finds the SNI in a TLS ClientHello that may be split across TCP segments and across several TLS handshake
/// records. Fed the whole buffered prefix each time; never consumes it. Anything that is not a well-formed
/// ClientHello is invalid (fail closed), including an SNI that is not a valid host name and any extension sent twice.
/// Also reads what a later ClientHello on the same connection must repeat (<see cref="HandshakeGuard"/>): the ALPN
/// offer, and whether the client encrypts its real ClientHello (ECH).
/// </summary>
internal sealed class ClientHelloParser(int maxBytes) : IPrefixParser
{
    private const byte HandshakeRecord = 22;
    private const int MaxRecordPayload = 16384 + 2048;

    /// <summary>The normalized SNI host name, or null when the ClientHello has none.</summary>
    public string? ServerName { get; private set; }
    public string? Error { get; private set; }

    /// <summary>The ClientHello carries an Encrypted Client Hello extension (RFC 9849, its drafts, or the older ESNI):
    /// the name it really asks for may be hidden from the gateway. GREASE ECH looks the same by design.</summary>
    public bool OffersEch { get; private set; }

    /// <summary>The application_layer_protocol_negotiation extension's bytes as sent, or null when there is none.</summary>
    public byte[]? Alpn { get; private set; }

    private const int AlpnExtension = 16;

    /// <summary>ECH (0xfe0d, RFC 9849), its drafts' code points (0xfe08-0xfe0c) and draft ESNI (0xffce).</summary>
    public static bool IsEncryptedHelloExtension(int type) => type is >= 0xfe08 and <= 0xfe0d or 0xffce;

    public ParseStatus TryParse(in ReadOnlySequence<byte> buffer)
    {
        var length = (int)Math.Min(buffer.Length, maxBytes);
        var rented = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            buffer.Slice(0, length).CopyTo(rented);
            return Parse(rented.AsSpan(0, length));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private ParseStatus Parse(ReadOnlySpan<byte> data)
    {
        // Reassemble the handshake message from consecutive handshake records.
        var handshake = new byte[Math.Min(data.Length, maxBytes)];
        var have = 0;
        var offset = 0;
        while (true)
        {
            if (data.Length - offset < 5) return ParseStatus.NeedMore;
            if (data[offset] != HandshakeRecord) return Fail(offset == 0 ? "not a TLS handshake record" : "non-handshake record inside the ClientHello");
            if (data[offset + 1] != 3) return Fail("unknown TLS record version");
            var recordLength = BinaryPrimitives.ReadUInt16BigEndian(data[(offset + 3)..]);
            if (recordLength == 0 || recordLength > MaxRecordPayload) return Fail("bad TLS record length");
            var available = Math.Min(recordLength, data.Length - offset - 5);
            data.Slice(offset + 5, available).CopyTo(handshake.AsSpan(have));
            have += available;
            if (have >= 4)
            {
                if (handshake[0] != 1) return Fail("first handshake message is not a ClientHello");
                var messageLength = (handshake[1] << 16) | (handshake[2] << 8) | handshake[3];
                if (messageLength + 4 > maxBytes) return Fail("ClientHello larger than the limit");
                if (have >= messageLength + 4) return ParseHello(handshake.AsSpan(4, messageLength));
            }
            if (available < recordLength) return ParseStatus.NeedMore;
            offset += 5 + recordLength;
        }
    }

    /// <summary>Parses one ClientHello handshake message's body (after its type and length).</summary>
    public ParseStatus ParseHello(ReadOnlySpan<byte> hello)
    {
        var r = new SpanCursor(hello);
        if (!r.Skip(2 + 32)) return Fail("truncated ClientHello");
        if (!r.ReadU8(out var sessionLength) || sessionLength > 32 || !r.Skip(sessionLength)) return Fail("bad session id");
        if (!r.ReadU16(out var suitesLength) || suitesLength < 2 || suitesLength % 2 != 0 || !r.Skip(suitesLength)) return Fail("bad cipher suites");
        if (!r.ReadU8(out var compressionLength) || compressionLength < 1 || !r.Skip(compressionLength)) return Fail("bad compression methods");
        if (r.Remaining == 0) return ParseStatus.Done; // no extensions, so no SNI
        if (!r.ReadU16(out var extensionsLength) || extensionsLength != r.Remaining) return Fail("bad extensions length");
        Span<ushort> seen = stackalloc ushort[Math.Min(r.Remaining / 4, 1024)];
        var seenCount = 0;
        while (r.Remaining > 0)
        {
            if (!r.ReadU16(out var type) || !r.ReadU16(out var extLength) || !r.Take(extLength, out var ext)) return Fail("truncated extension");
            // RFC 8446 4.2: never two extensions of one type; a second copy is where a parser and a server could disagree.
            if (seen[..seenCount].Contains((ushort)type)) return Fail(type == 0 ? "two server_name extensions" : $"extension {type} sent twice");
            seen[seenCount++] = (ushort)type;
            if (IsEncryptedHelloExtension(type)) OffersEch = true;
            if (type == AlpnExtension) Alpn = ext.ToArray();
            if (type != 0) continue;
            var e = new SpanCursor(ext);
            if (!e.ReadU16(out var listLength) || listLength != e.Remaining || listLength == 0) return Fail("bad server_name list");
            while (e.Remaining > 0)
            {
                if (!e.ReadU8(out var nameType) || !e.ReadU16(out var nameLength) || !e.Take(nameLength, out var name)) return Fail("truncated server_name");
                if (nameType != 0 || ServerName is not null) continue;
                var text = Encoding.ASCII.GetString(name);
                if (name.IndexOfAnyExceptInRange((byte)0x21, (byte)0x7E) >= 0 || IpLiteral.TryParse(text, out _) ||
                    !HostName.TryNormalize(text, out var host, out _))
                    return Fail($"SNI '{Interception.Http.Refusal.Printable(text)}' is not a host name");
                ServerName = host;
            }
        }
        return ParseStatus.Done;
    }

    private ParseStatus Fail(string error)
    {
        Error = error;
        return ParseStatus.Invalid;
    }

    private ref struct SpanCursor(ReadOnlySpan<byte> span)
    {
        private ReadOnlySpan<byte> _rest = span;
        public readonly int Remaining => _rest.Length;

        public bool Skip(int n)
        {
            if (_rest.Length < n) return false;
            _rest = _rest[n..];
            return true;
        }

        public bool ReadU8(out int value)
        {
            value = _rest.Length >= 1 ? _rest[0] : 0;
            return Skip(1);
        }

        public bool ReadU16(out int value)
        {
            value = _rest.Length >= 2 ? BinaryPrimitives.ReadUInt16BigEndian(_rest) : 0;
            return Skip(2);
        }

        public bool Take(int n, out ReadOnlySpan<byte> taken)
        {
            taken = _rest.Length >= n ? _rest[..n] : default;
            return Skip(n);
        }
    }
}

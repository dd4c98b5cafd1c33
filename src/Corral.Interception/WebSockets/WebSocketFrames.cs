using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Corral.Interception.WebSockets;

/// <summary>The opcodes RFC 6455 defines (section 5.2); every other value is reserved and refused.</summary>
internal enum WebSocketOpcode : byte { Continuation = 0, Text = 1, Binary = 2, Close = 8, Ping = 9, Pong = 10 }

/// <summary>One frame as parsed, its payload unmasked.</summary>
internal sealed record WebSocketFrame(bool Fin, WebSocketOpcode Opcode, byte[] Payload)
{
    public bool IsControl => Opcode >= WebSocketOpcode.Close;
}

/// <summary>Bytes that break RFC 6455, or a message over the bound: the connection is closed with <see cref="CloseCode"/>.</summary>
internal sealed class WebSocketViolationException(ushort closeCode, string message) : Exception(message)
{
    public ushort CloseCode { get; } = closeCode;
}

/// <summary>
/// The one WebSocket frame parser (RFC 6455 section 5) and the frames the gateway writes. Strict: reserved bits and
/// opcodes are refused (no extension is ever negotiated through the gateway), a client's frames must be masked and a
/// server's must not be, control frames are final and at most 125 bytes, a 64-bit length has its top bit clear, and a
/// data frame over the caller's bound is refused before its payload is read.
/// </summary>
internal static class WebSocketFrames
{
    public const int MaxControlPayload = 125;
    public const ushort NormalClosure = 1000, ProtocolError = 1002, InvalidData = 1007, PolicyViolation = 1008, TooBig = 1009, NoStatus = 1005, Abnormal = 1006;

    /// <summary>Reads one whole frame from the front of <paramref name="buffer"/> (sliced past it); false when more bytes are needed.</summary>
    /// <param name="maxPayload">The most payload a data frame may carry now (what is left of the message bound).</param>
    public static bool TryRead(ref ReadOnlySequence<byte> buffer, bool fromClient, long maxPayload, out WebSocketFrame frame)
    {
        frame = null!;
        var reader = new SequenceReader<byte>(buffer);
        if (!reader.TryRead(out var b0) || !reader.TryRead(out var b1)) return false;
        if ((b0 & 0x70) != 0) throw new WebSocketViolationException(ProtocolError, "reserved bits set, and no extension was negotiated");
        var opcode = (byte)(b0 & 0x0F);
        if (opcode is not (0 or 1 or 2 or 8 or 9 or 10)) throw new WebSocketViolationException(ProtocolError, $"reserved opcode {opcode}");
        var fin = (b0 & 0x80) != 0;
        var masked = (b1 & 0x80) != 0;
        if (masked != fromClient)
            throw new WebSocketViolationException(ProtocolError, fromClient ? "a client frame that is not masked" : "a server frame that is masked");
        long length = b1 & 0x7F;
        if (length == 126)
        {
            if (!reader.TryReadBigEndian(out short length16)) return false;
            length = (ushort)length16;
        }
        else if (length == 127)
        {
            if (!reader.TryReadBigEndian(out long length64)) return false;
            if (length64 < 0) throw new WebSocketViolationException(ProtocolError, "a 64-bit payload length with its most significant bit set");
            length = length64;
        }
        var control = opcode >= 8;
        if (control && length > MaxControlPayload) throw new WebSocketViolationException(ProtocolError, $"a control frame of {length} bytes (at most {MaxControlPayload})");
        if (control && !fin) throw new WebSocketViolationException(ProtocolError, "a fragmented control frame");
        if (!control && length > maxPayload) throw new WebSocketViolationException(TooBig, $"a message over {Math.Max(0, maxPayload)} more bytes, the bound for messages the gateway reads whole");
        Span<byte> mask = stackalloc byte[4];
        if (masked)
        {
            if (!reader.TryCopyTo(mask)) return false;
            reader.Advance(4);
        }
        if (reader.Remaining < length) return false;
        var payload = new byte[length];
        reader.UnreadSequence.Slice(0, length).CopyTo(payload);
        if (masked) for (var i = 0; i < payload.Length; i++) payload[i] ^= mask[i & 3];
        reader.Advance(length);
        buffer = buffer.Slice(reader.Position);
        frame = new WebSocketFrame(fin, (WebSocketOpcode)opcode, payload);
        return true;
    }

    /// <summary>A frame built from parsed values: masked with a fresh key when it goes to a server.</summary>
    public static byte[] Write(bool fin, WebSocketOpcode opcode, ReadOnlySpan<byte> payload, bool mask)
    {
        var lengthBytes = payload.Length < 126 ? 0 : payload.Length <= ushort.MaxValue ? 2 : 8;
        var frame = new byte[2 + lengthBytes + (mask ? 4 : 0) + payload.Length];
        frame[0] = (byte)((fin ? 0x80 : 0) | (byte)opcode);
        frame[1] = (byte)((mask ? 0x80 : 0) | (lengthBytes == 0 ? payload.Length : lengthBytes == 2 ? 126 : 127));
        if (lengthBytes == 2) BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(2), (ushort)payload.Length);
        else if (lengthBytes == 8) BinaryPrimitives.WriteUInt64BigEndian(frame.AsSpan(2), (ulong)payload.Length);
        var at = 2 + lengthBytes;
        if (!mask)
        {
            payload.CopyTo(frame.AsSpan(at));
            return frame;
        }
        var key = frame.AsSpan(at, 4);
        RandomNumberGenerator.Fill(key);
        for (var i = 0; i < payload.Length; i++) frame[at + 4 + i] = (byte)(payload[i] ^ key[i & 3]);
        return frame;
    }

    /// <summary>A close frame with a code and a reason (ASCII, cut to fit the 125-byte control payload).</summary>
    public static byte[] Close(ushort code, string reason, bool mask)
    {
        var text = Encoding.ASCII.GetBytes(new string(reason.Select(c => c is >= ' ' and <= '~' ? c : '?').ToArray()));
        var payload = new byte[2 + Math.Min(text.Length, MaxControlPayload - 2)];
        BinaryPrimitives.WriteUInt16BigEndian(payload, code);
        text.AsSpan(0, payload.Length - 2).CopyTo(payload.AsSpan(2));
        return Write(true, WebSocketOpcode.Close, payload, mask);
    }

    /// <summary>A close frame's code (<see cref="NoStatus"/> when it has none); refuses a bad code or a reason that is not UTF-8.</summary>
    public static ushort CloseCodeOf(byte[] payload)
    {
        if (payload.Length == 0) return NoStatus;
        if (payload.Length == 1) throw new WebSocketViolationException(ProtocolError, "a close frame with a one-byte payload");
        var code = BinaryPrimitives.ReadUInt16BigEndian(payload);
        if (code is not ((>= 1000 and <= 1003) or (>= 1007 and <= 1014) or (>= 3000 and <= 4999)))
            throw new WebSocketViolationException(ProtocolError, $"close code {code} may not be sent");
        if (!System.Text.Unicode.Utf8.IsValid(payload.AsSpan(2))) throw new WebSocketViolationException(InvalidData, "a close reason that is not UTF-8");
        return code;
    }
}

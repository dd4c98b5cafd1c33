using System.Buffers.Binary;
using System.Net;

namespace Corral.Gateway.NameService;

/// <summary>Why a DNS message was not accepted.</summary>
public enum DnsWireError { None, Truncated, Oversize, NotAQuery, NotOneQuestion, BadName, BadPointer, NotAResponse, Mismatch }

/// <summary>The one question of a query: the name as the policy reads it, and where the question ends in the message.</summary>
public readonly record struct DnsQuestion(string Name, ushort Type, ushort Class, int End);

/// <summary>
/// The little of RFC 1035 the resolver needs, over spans and with every read bounded: the question of a query, the
/// address records and TTLs of a response, and error answers. A name is read with compression pointers that must point
/// strictly backwards (so a pointer loop cannot exist) and at most <see cref="MaxNameBytes"/> bytes long; a label may
/// hold only letters, digits, '-' and '_' (a dot or a control byte inside a label would read as a different name).
/// </summary>
public static class DnsWire
{
    public const int HeaderLength = 12;
    /// <summary>RFC 1035's limit on a name in wire form.</summary>
    public const int MaxNameBytes = 255;
    /// <summary>The largest query accepted (UDP with EDNS or TCP): a question is far smaller.</summary>
    public const int MaxQueryBytes = 4096;

    public const byte NoError = 0, FormErr = 1, ServFail = 2, NxDomain = 3, Refused = 5;
    public const ushort TypeA = 1, TypeAaaa = 28, TypeCname = 5, TypeOpt = 41;

    public static ushort IdOf(ReadOnlySpan<byte> message) => BinaryPrimitives.ReadUInt16BigEndian(message);
    public static void SetId(Span<byte> message, ushort id) => BinaryPrimitives.WriteUInt16BigEndian(message, id);
    public static bool IsTruncated(ReadOnlySpan<byte> message) => message.Length >= 3 && (message[2] & 0x02) != 0;
    public static byte ResponseCode(ReadOnlySpan<byte> message) => (byte)(message[3] & 0x0F);

    /// <summary>Reads a standard query with exactly one question.</summary>
    public static DnsWireError TryReadQuery(ReadOnlySpan<byte> message, out DnsQuestion question)
    {
        question = default;
        if (message.Length > MaxQueryBytes) return DnsWireError.Oversize;
        if (message.Length < HeaderLength) return DnsWireError.Truncated;
        if ((message[2] & 0x80) != 0 || ((message[2] >> 3) & 0x0F) != 0) return DnsWireError.NotAQuery; // QR set, or not OPCODE QUERY
        if (Count(message, 4) != 1 || Count(message, 6) != 0 || Count(message, 8) != 0) return DnsWireError.NotOneQuestion;
        return TryReadQuestion(message, out question);
    }

    private static DnsWireError TryReadQuestion(ReadOnlySpan<byte> message, out DnsQuestion question)
    {
        question = default;
        var error = TryReadName(message, HeaderLength, out var name, out var end);
        if (error != DnsWireError.None) return error;
        if (end + 4 > message.Length) return DnsWireError.Truncated;
        question = new DnsQuestion(name, Count(message, end), Count(message, end + 2), end + 4);
        return DnsWireError.None;
    }

    private static ushort Count(ReadOnlySpan<byte> message, int at) => BinaryPrimitives.ReadUInt16BigEndian(message[at..]);

    /// <summary>Reads a (possibly compressed) name as lower-case dotted text without the root dot; end is where it ends in place.</summary>
    public static DnsWireError TryReadName(ReadOnlySpan<byte> message, int offset, out string name, out int end)
    {
        Span<char> text = stackalloc char[MaxNameBytes];
        var length = 0;
        var wireBytes = 0;
        end = -1;
        name = "";
        var at = offset;
        while (true)
        {
            if (at >= message.Length) return DnsWireError.Truncated;
            var b = message[at];
            if ((b & 0xC0) == 0xC0)
            {
                if (at + 1 >= message.Length) return DnsWireError.Truncated;
                var target = ((b & 0x3F) << 8) | message[at + 1];
                if (end < 0) end = at + 2;
                // Strictly backwards from this pointer: every jump lowers the position, so the walk ends.
                if (target >= at) return DnsWireError.BadPointer;
                at = target;
                continue;
            }
            if ((b & 0xC0) != 0) return DnsWireError.BadName; // 0x40 and 0x80: extended and reserved label types
            wireBytes += b + 1;
            if (wireBytes > MaxNameBytes) return DnsWireError.BadName;
            if (b == 0)
            {
                if (end < 0) end = at + 1;
                break;
            }
            if (at + 1 + b > message.Length) return DnsWireError.Truncated;
            if (length > 0) text[length++] = '.';
            foreach (var c in message.Slice(at + 1, b))
            {
                var lower = c is >= (byte)'A' and <= (byte)'Z' ? (char)(c | 0x20) : (char)c;
                if (lower is not ((>= 'a' and <= 'z') or (>= '0' and <= '9') or '-' or '_')) return DnsWireError.BadName;
                text[length++] = lower;
            }
            at += 1 + b;
        }
        if (length == 0) return DnsWireError.BadName; // the root: no name a policy could be about
        name = new string(text[..length]);
        return DnsWireError.None;
    }

    /// <summary>
    /// An answer with no records to the query's question: header and question copied, QR and RA set, RD kept, the
    /// given response code. Returns its length (at most <paramref name="questionEnd"/> bytes).
    /// </summary>
    public static int WriteAnswerWithoutRecords(ReadOnlySpan<byte> query, int questionEnd, byte responseCode, Span<byte> into)
    {
        if (questionEnd <= HeaderLength || questionEnd > query.Length)
        {
            // No readable question: the header alone (the id, so the client can match it).
            var id = query.Length >= 2 ? IdOf(query) : (ushort)0;
            into[..HeaderLength].Clear();
            SetId(into, id);
            into[2] = (byte)(0x80 | (query.Length >= 3 ? query[2] & 0x01 : 0));
            into[3] = (byte)(0x80 | responseCode);
            return HeaderLength;
        }
        query[..questionEnd].CopyTo(into);
        into[2] = (byte)(0x80 | (query[2] & 0x01));
        into[3] = (byte)(0x80 | responseCode);
        BinaryPrimitives.WriteUInt16BigEndian(into[4..], 1);
        into.Slice(6, 6).Clear();
        return questionEnd;
    }

    /// <summary>
    /// An answer to the query's question from addresses the gateway holds itself (the hosts file): the A or AAAA
    /// records among them for an A or AAAA question (none for other types), as many as fit, each with
    /// <paramref name="ttl"/>. Returns its length.
    /// </summary>
    public static int WriteAnswerWithAddresses(ReadOnlySpan<byte> query, int questionEnd, ushort type, IReadOnlyList<IPAddress> addresses, uint ttl, Span<byte> into)
    {
        var length = WriteAnswerWithoutRecords(query, questionEnd, NoError, into);
        if (length != questionEnd) return length;
        ushort count = 0;
        foreach (var address in addresses)
        {
            var size = type == TypeA && address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 4
                : type == TypeAaaa && address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? 16 : 0;
            if (size == 0 || length + 12 + size > into.Length) continue;
            var record = into[length..];
            record[0] = 0xC0; // a pointer to the question's name
            record[1] = HeaderLength;
            BinaryPrimitives.WriteUInt16BigEndian(record[2..], type);
            BinaryPrimitives.WriteUInt16BigEndian(record[4..], 1);
            BinaryPrimitives.WriteUInt32BigEndian(record[6..], ttl);
            BinaryPrimitives.WriteUInt16BigEndian(record[10..], (ushort)size);
            address.TryWriteBytes(record[12..], out _);
            length += 12 + size;
            count++;
        }
        into[2] |= 0x04; // AA: the gateway's own answer
        BinaryPrimitives.WriteUInt16BigEndian(into[6..], count);
        return length;
    }

    /// <summary>
    /// Checks that <paramref name="response"/> answers <paramref name="question"/> under <paramref name="id"/>, and
    /// collects the A and AAAA records of its answer section, the offsets of every TTL (to age a cached copy) and the
    /// smallest TTL. The OPT pseudo-record's TTL field is not a TTL and is left out.
    /// </summary>
    public static DnsWireError TryReadResponse(ReadOnlySpan<byte> response, ushort id, in DnsQuestion question,
        List<IPAddress> addresses, List<int> ttlOffsets, out uint minTtl)
    {
        minTtl = uint.MaxValue;
        if (response.Length < HeaderLength) return DnsWireError.Truncated;
        if ((response[2] & 0x80) == 0) return DnsWireError.NotAResponse;
        if (IdOf(response) != id || Count(response, 4) != 1) return DnsWireError.Mismatch;
        var error = TryReadQuestion(response, out var echoed);
        if (error != DnsWireError.None) return error;
        if (echoed.Name != question.Name || echoed.Type != question.Type || echoed.Class != question.Class) return DnsWireError.Mismatch;
        var at = echoed.End;
        var answers = Count(response, 6);
        var records = answers + Count(response, 8) + Count(response, 10);
        for (var i = 0; i < records; i++)
        {
            error = SkipName(response, at, out at);
            if (error != DnsWireError.None) return error;
            if (at + 10 > response.Length) return DnsWireError.Truncated;
            var type = Count(response, at);
            var ttl = BinaryPrimitives.ReadUInt32BigEndian(response[(at + 4)..]);
            var dataLength = Count(response, at + 8);
            var data = at + 10;
            if (data + dataLength > response.Length) return DnsWireError.Truncated;
            if (type != TypeOpt)
            {
                ttlOffsets.Add(at + 4);
                minTtl = Math.Min(minTtl, ttl);
            }
            if (i < answers && ((type == TypeA && dataLength == 4) || (type == TypeAaaa && dataLength == 16)))
                addresses.Add(new IPAddress(response.Slice(data, dataLength)));
            at = data + dataLength;
        }
        if (minTtl == uint.MaxValue) minTtl = 0;
        return DnsWireError.None;
    }

    public const ushort TypeSvcb = 64, TypeHttps = 65;
    private const ushort SvcKeyMandatory = 0, SvcKeyEch = 5;

    /// <summary>
    /// The response without the <c>ech</c> parameter (key 5) of its SVCB and HTTPS records (RFC 9460), and without
    /// key 5 in their <c>mandatory</c> lists: a client that follows the standard then never gets the keys it needs to
    /// hide its real server name from the gateway behind Encrypted Client Hello. <paramref name="rewritten"/> is null
    /// when no record carries it (use the response as it is); a rewritten response has every name written out
    /// uncompressed, so no compression pointer can point at moved bytes. An error means the response cannot be
    /// rewritten safely and must not be passed on.
    /// </summary>
    public static DnsWireError TryStripEch(byte[] response, out byte[]? rewritten)
    {
        rewritten = null;
        var found = false;
        var error = Rewrite(response, null, ref found);
        if (error != DnsWireError.None || !found) return error;
        var output = new List<byte>(response.Length);
        error = Rewrite(response, output, ref found);
        if (error == DnsWireError.None) rewritten = [.. output];
        return error;
    }

    /// <summary>Walks every record; with <paramref name="output"/>, writes the message again without ech parameters.</summary>
    private static DnsWireError Rewrite(ReadOnlySpan<byte> m, List<byte>? output, ref bool found)
    {
        if (m.Length < HeaderLength) return DnsWireError.Truncated;
        output?.AddRange(m[..HeaderLength]);
        var at = HeaderLength;
        for (var q = 0; q < Count(m, 4); q++)
        {
            var error = CopyName(m, at, output, out at);
            if (error != DnsWireError.None) return error;
            if (at + 4 > m.Length) return DnsWireError.Truncated;
            output?.AddRange(m.Slice(at, 4));
            at += 4;
        }
        var records = Count(m, 6) + Count(m, 8) + Count(m, 10);
        for (var i = 0; i < records; i++)
        {
            var error = CopyName(m, at, output, out at);
            if (error != DnsWireError.None) return error;
            if (at + 10 > m.Length) return DnsWireError.Truncated;
            var type = Count(m, at);
            var data = at + 10;
            var end = data + Count(m, at + 8);
            if (end > m.Length) return DnsWireError.Truncated;
            output?.AddRange(m.Slice(at, 8)); // type, class, TTL
            var lengthAt = output?.Count ?? 0;
            output?.AddRange([0, 0]);
            error = type switch
            {
                // The RFC 1035 types whose data may hold compressed names (RFC 3597 4): written out.
                2 or 5 or 7 or 8 or 9 or 12 => CopyNames(m, data, 0, 1, 0, end, output),
                15 => CopyNames(m, data, 2, 1, 0, end, output),
                6 => CopyNames(m, data, 0, 2, 20, end, output),
                14 => CopyNames(m, data, 0, 2, 0, end, output),
                TypeSvcb or TypeHttps => CopySvcb(m, data, end, output, ref found),
                _ => Copy(m, data, end, output),
            };
            if (error != DnsWireError.None) return error;
            if (output is not null)
            {
                var length = output.Count - lengthAt - 2;
                if (length > ushort.MaxValue) return DnsWireError.Oversize;
                output[lengthAt] = (byte)(length >> 8);
                output[lengthAt + 1] = (byte)length;
            }
            at = end;
        }
        return DnsWireError.None;
    }

    private static DnsWireError Copy(ReadOnlySpan<byte> m, int from, int end, List<byte>? output)
    {
        output?.AddRange(m[from..end]);
        return DnsWireError.None;
    }

    /// <summary>Record data of a fixed prefix, some names and a fixed suffix, filling the data exactly.</summary>
    private static DnsWireError CopyNames(ReadOnlySpan<byte> m, int at, int prefix, int names, int suffix, int end, List<byte>? output)
    {
        if (at + prefix > end) return DnsWireError.Truncated;
        output?.AddRange(m.Slice(at, prefix));
        at += prefix;
        for (var n = 0; n < names; n++)
        {
            var error = CopyName(m, at, output, out at);
            if (error != DnsWireError.None) return error;
        }
        if (at + suffix != end) return DnsWireError.Truncated;
        output?.AddRange(m.Slice(at, suffix));
        return DnsWireError.None;
    }

    /// <summary>SVCB/HTTPS data: priority, target, then the parameters, less ech (and ech in mandatory).</summary>
    private static DnsWireError CopySvcb(ReadOnlySpan<byte> m, int at, int end, List<byte>? output, ref bool found)
    {
        if (at + 2 > end) return DnsWireError.Truncated;
        output?.AddRange(m.Slice(at, 2));
        var error = CopyName(m, at + 2, output, out at);
        if (error != DnsWireError.None) return error;
        while (at < end)
        {
            if (at + 4 > end) return DnsWireError.Truncated;
            var key = Count(m, at);
            var length = Count(m, at + 2);
            if (at + 4 + length > end) return DnsWireError.Truncated;
            var value = m.Slice(at + 4, length);
            at += 4 + length;
            if (key == SvcKeyEch)
            {
                found = true;
                continue;
            }
            if (key == SvcKeyMandatory && output is not null)
            {
                var kept = new List<byte>(length);
                for (var k = 0; k + 1 < value.Length; k += 2)
                    if (Count(value, k) != SvcKeyEch) kept.AddRange(value.Slice(k, 2));
                if (kept.Count == 0) continue;
                output.AddRange([0, 0, (byte)(kept.Count >> 8), (byte)kept.Count]);
                output.AddRange(kept);
                continue;
            }
            output?.AddRange(m.Slice(at - 4 - length, 4 + length));
        }
        return at == end ? DnsWireError.None : DnsWireError.Truncated;
    }

    /// <summary>Writes a (possibly compressed) name out uncompressed; end is where it ends in place.</summary>
    private static DnsWireError CopyName(ReadOnlySpan<byte> m, int offset, List<byte>? output, out int end)
    {
        end = -1;
        var wireBytes = 0;
        var at = offset;
        while (true)
        {
            if (at >= m.Length) return DnsWireError.Truncated;
            var b = m[at];
            if ((b & 0xC0) == 0xC0)
            {
                if (at + 1 >= m.Length) return DnsWireError.Truncated;
                var target = ((b & 0x3F) << 8) | m[at + 1];
                if (end < 0) end = at + 2;
                if (target >= at) return DnsWireError.BadPointer; // strictly backwards: the walk ends
                at = target;
                continue;
            }
            if ((b & 0xC0) != 0) return DnsWireError.BadName;
            wireBytes += b + 1;
            if (wireBytes > MaxNameBytes) return DnsWireError.BadName;
            if (at + 1 + b > m.Length) return DnsWireError.Truncated;
            output?.AddRange(m.Slice(at, 1 + b));
            if (b == 0)
            {
                if (end < 0) end = at + 1;
                return DnsWireError.None;
            }
            at += 1 + b;
        }
    }

    /// <summary>Steps over a name in a record; pointers are not followed (where they point is not needed here).</summary>
    private static DnsWireError SkipName(ReadOnlySpan<byte> message, int offset, out int end)
    {
        end = offset;
        var wireBytes = 0;
        while (true)
        {
            if (end >= message.Length) return DnsWireError.Truncated;
            var b = message[end];
            if ((b & 0xC0) == 0xC0)
            {
                if (end + 1 >= message.Length) return DnsWireError.Truncated;
                end += 2;
                return DnsWireError.None;
            }
            if ((b & 0xC0) != 0) return DnsWireError.BadName;
            wireBytes += b + 1;
            if (wireBytes > MaxNameBytes) return DnsWireError.BadName;
            end += 1 + b;
            if (b == 0) return DnsWireError.None;
        }
    }

    /// <summary>The query type's name for records and metrics (its number when it is not a common one).</summary>
    public static string TypeName(ushort type) => type switch
    {
        1 => "A", 2 => "NS", 5 => "CNAME", 6 => "SOA", 12 => "PTR", 15 => "MX", 16 => "TXT", 28 => "AAAA", 33 => "SRV",
        35 => "NAPTR", 64 => "SVCB", 65 => "HTTPS", 255 => "ANY", 252 => "AXFR", 251 => "IXFR", 257 => "CAA",
        _ => $"TYPE{type}",
    };

    public static string CodeName(byte code) => code switch
    {
        NoError => "NOERROR", FormErr => "FORMERR", ServFail => "SERVFAIL", NxDomain => "NXDOMAIN", Refused => "REFUSED", 4 => "NOTIMP",
        _ => $"RCODE{code}",
    };
}

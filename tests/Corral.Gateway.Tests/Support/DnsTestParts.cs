using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Corral.Gateway.Tests.Support;

/// <summary>
/// A stand-in upstream resolver on loopback that logs every question it receives and answers every name with one
/// A record (TTL 300). Names in <see cref="TruncateOverUdp"/> get an empty, truncated answer over UDP, so the
/// client has to ask again over TCP. Written independently of the gateway's DNS code.
/// </summary>
public sealed class LoggingDnsUpstream : IAsyncDisposable
{
    private readonly Socket _udp;
    private readonly TcpListener _tcp;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _udpLoop, _tcpLoop;

    public LoggingDnsUpstream(IPAddress answer)
    {
        Answer = answer;
        // UDP's port may be some TCP connection's local port already: then try another.
        for (var attempt = 1; ; attempt++)
        {
            _udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            _udp.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            EndPoint = (IPEndPoint)_udp.LocalEndPoint!;
            _tcp = new TcpListener(EndPoint);
            try
            {
                _tcp.Start();
                break;
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse && attempt < 20) { _udp.Dispose(); }
        }
        _udpLoop = Task.Run(UdpLoop);
        _tcpLoop = Task.Run(TcpLoop);
    }

    public IPAddress Answer { get; }
    public IPEndPoint EndPoint { get; }
    public ConcurrentQueue<string> Questions { get; } = new();
    public ConcurrentQueue<string> TcpQuestions { get; } = new();
    /// <summary>Every query as received over UDP.</summary>
    public ConcurrentQueue<byte[]> UdpQueries { get; } = new();
    public HashSet<string> TruncateOverUdp { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The ech value of the HTTPS record this upstream answers HTTPS queries with.</summary>
    public static readonly byte[] EchMarker = "ECHCONFIG-MARKER"u8.ToArray();

    private async Task UdpLoop()
    {
        var buffer = new byte[65536];
        while (!_stop.IsCancellationRequested)
        {
            SocketReceiveFromResult r;
            try { r = await _udp.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), _stop.Token); }
            catch (Exception) { return; }
            var query = buffer[..r.ReceivedBytes];
            UdpQueries.Enqueue(query);
            var name = DnsProbe.QuestionName(query, out var questionEnd);
            Questions.Enqueue(name);
            var response = TruncateOverUdp.Contains(name) ? Respond(query, questionEnd, truncated: true) : Respond(query, questionEnd, truncated: false);
            await _udp.SendToAsync(response, SocketFlags.None, r.RemoteEndPoint);
        }
    }

    private async Task TcpLoop()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await _tcp.AcceptTcpClientAsync(_stop.Token); }
            catch (Exception) { return; }
            _ = Task.Run(async () =>
            {
                using (client)
                {
                    var stream = client.GetStream();
                    var length = new byte[2];
                    await stream.ReadExactlyAsync(length);
                    var query = new byte[BinaryPrimitives.ReadUInt16BigEndian(length)];
                    await stream.ReadExactlyAsync(query);
                    var name = DnsProbe.QuestionName(query, out var questionEnd);
                    Questions.Enqueue(name);
                    TcpQuestions.Enqueue(name);
                    var response = Respond(query, questionEnd, truncated: false);
                    var framed = new byte[response.Length + 2];
                    BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)response.Length);
                    response.CopyTo(framed, 2);
                    await stream.WriteAsync(framed);
                }
            });
        }
    }

    private byte[] Respond(byte[] query, int questionEnd, bool truncated)
    {
        var response = new List<byte>(query[..questionEnd]);
        response[2] = (byte)(0x80 | (query[2] & 0x01) | (truncated ? 0x02 : 0));
        response[3] = 0x80;
        response[6] = 0; response[7] = (byte)(truncated ? 0 : 1); // ANCOUNT
        response[8] = response[9] = response[10] = response[11] = 0;
        var https = query[questionEnd - 4] == 0 && query[questionEnd - 3] == 65;
        if (!truncated && https)
        {
            // An HTTPS record (RFC 9460) with mandatory [alpn, ech], alpn h2, an ech config (EchMarker) and ipv6hint ::1.
            byte[] data = [0, 1, 0, 0, 0, 0, 4, 0, 1, 0, 5, 0, 1, 0, 3, 2, (byte)'h', (byte)'2', 0, 5, 0, (byte)EchMarker.Length, .. EchMarker,
                0, 6, 0, 16, .. IPAddress.IPv6Loopback.GetAddressBytes()];
            response.AddRange([0xC0, 0x0C, 0, 65, 0, 1, 0, 0, 0x01, 0x2C, 0, (byte)data.Length]);
            response.AddRange(data);
        }
        else if (!truncated)
        {
            response.AddRange([0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0x01, 0x2C, 0, 4]); // pointer to the question, A, IN, TTL 300, 4 bytes
            response.AddRange(Answer.GetAddressBytes());
        }
        return [.. response];
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _udp.Dispose();
        _tcp.Stop();
        await Task.WhenAll(_udpLoop, _tcpLoop);
    }
}

/// <summary>A minimal DNS client for tests: builds a query, sends it over UDP or TCP from a chosen address, reads the answer.</summary>
public static class DnsProbe
{
    public sealed record Answer(ushort Id, int ResponseCode, bool Truncated, IReadOnlyList<IPAddress> Addresses, uint FirstTtl, byte[] Raw);

    public static byte[] Query(string name, ushort type = 1, ushort id = 0x1234)
    {
        var bytes = new List<byte> { (byte)(id >> 8), (byte)id, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0 };
        foreach (var label in name.Split('.'))
        {
            bytes.Add((byte)label.Length);
            bytes.AddRange(Encoding.ASCII.GetBytes(label));
        }
        bytes.AddRange([0, (byte)(type >> 8), (byte)type, 0, 1]);
        return [.. bytes];
    }

    public static async Task<Answer?> UdpAsync(IPEndPoint server, byte[] query, IPAddress? from = null, int timeoutMs = 5000)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(from ?? IPAddress.Loopback, 0));
        await socket.SendToAsync(query, SocketFlags.None, server);
        var buffer = new byte[65536];
        using var cts = new CancellationTokenSource(timeoutMs);
        try
        {
            var n = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
            return Parse(buffer[..n]);
        }
        catch (OperationCanceledException) { return null; }
    }

    public static async Task<Answer?> TcpAsync(IPEndPoint server, byte[] query)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(server);
        var stream = client.GetStream();
        var framed = new byte[query.Length + 2];
        BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)query.Length);
        query.CopyTo(framed, 2);
        await stream.WriteAsync(framed);
        var length = new byte[2];
        using var cts = new CancellationTokenSource(5000);
        await stream.ReadExactlyAsync(length, cts.Token);
        var response = new byte[BinaryPrimitives.ReadUInt16BigEndian(length)];
        await stream.ReadExactlyAsync(response, cts.Token);
        return Parse(response);
    }

    /// <summary>The question's name (dotted, as sent) of an uncompressed question; questionEnd is where the question ends.</summary>
    public static string QuestionName(byte[] message, out int questionEnd)
    {
        var labels = new List<string>();
        var at = 12;
        while (message[at] != 0)
        {
            labels.Add(Encoding.ASCII.GetString(message, at + 1, message[at]));
            at += 1 + message[at];
        }
        questionEnd = at + 5;
        return string.Join('.', labels);
    }

    private static Answer Parse(byte[] m)
    {
        var addresses = new List<IPAddress>();
        uint firstTtl = 0;
        var answers = (m[6] << 8) | m[7];
        var at = 12;
        if (((m[4] << 8) | m[5]) == 1) { QuestionName(m, out at); }
        for (var i = 0; i < answers; i++)
        {
            at += (m[at] & 0xC0) == 0xC0 ? 2 : SkipLabels(m, at);
            var type = (m[at] << 8) | m[at + 1];
            var ttl = BinaryPrimitives.ReadUInt32BigEndian(m.AsSpan(at + 4));
            var length = (m[at + 8] << 8) | m[at + 9];
            if (i == 0) firstTtl = ttl;
            if (type == 1) addresses.Add(new IPAddress(m.AsSpan(at + 10, length)));
            at += 10 + length;
        }
        return new Answer((ushort)((m[0] << 8) | m[1]), m[3] & 0x0F, (m[2] & 0x02) != 0, addresses, firstTtl, m);
    }

    private static int SkipLabels(byte[] m, int at)
    {
        var start = at;
        while (m[at] != 0) at += 1 + m[at];
        return at + 1 - start;
    }
}

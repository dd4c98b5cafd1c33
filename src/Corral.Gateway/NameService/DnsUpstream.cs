using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace Corral.Gateway.NameService;

/// <summary>
/// Asks the upstream resolver one question: over UDP from a fresh socket (a random source port) with a random id,
/// accepting only a response with that id and the same question; over TCP when the UDP answer is truncated or the
/// client asked over TCP. Returns the response bytes, or null on timeout or failure (the client then gets SERVFAIL).
/// </summary>
public sealed class DnsUpstream(IPEndPoint upstream, TimeSpan timeout)
{
    public IPEndPoint EndPoint { get; } = upstream;

    public async ValueTask<byte[]?> AskAsync(ReadOnlyMemory<byte> query, DnsQuestion question, bool overTcp, CancellationToken ct)
    {
        var id = (ushort)RandomNumberGenerator.GetInt32(ushort.MaxValue + 1);
        var message = query.ToArray();
        DnsWire.SetId(message, id);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(timeout);
        try
        {
            if (!overTcp)
            {
                var udp = await AskUdpAsync(message, id, question, deadline.Token).ConfigureAwait(false);
                if (udp is null || !DnsWire.IsTruncated(udp)) return udp;
            }
            return await AskTcpAsync(message, id, question, deadline.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or IOException) { return null; }
    }

    private async ValueTask<byte[]?> AskUdpAsync(byte[] message, ushort id, DnsQuestion question, CancellationToken ct)
    {
        using var socket = new Socket(EndPoint.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        await socket.ConnectAsync(EndPoint, ct).ConfigureAwait(false); // a connected socket takes datagrams from the upstream only
        await socket.SendAsync(message, SocketFlags.None, ct).ConfigureAwait(false);
        var buffer = new byte[65_535];
        while (true)
        {
            var n = await socket.ReceiveAsync(buffer, SocketFlags.None, ct).ConfigureAwait(false);
            // Anything else (a stray or forged datagram) is skipped until the deadline.
            if (n >= DnsWire.HeaderLength && DnsWire.IdOf(buffer) == id && Answers(buffer.AsSpan(0, n), question)) return buffer[..n];
        }
    }

    private async ValueTask<byte[]?> AskTcpAsync(byte[] message, ushort id, DnsQuestion question, CancellationToken ct)
    {
        using var socket = new Socket(EndPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(EndPoint, ct).ConfigureAwait(false);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        var framed = new byte[message.Length + 2];
        BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)message.Length);
        message.CopyTo(framed, 2);
        await stream.WriteAsync(framed, ct).ConfigureAwait(false);
        var length = new byte[2];
        await stream.ReadExactlyAsync(length, ct).ConfigureAwait(false);
        var response = new byte[BinaryPrimitives.ReadUInt16BigEndian(length)];
        await stream.ReadExactlyAsync(response, ct).ConfigureAwait(false);
        return response.Length >= DnsWire.HeaderLength && DnsWire.IdOf(response) == id && Answers(response, question) ? response : null;
    }

    private static bool Answers(ReadOnlySpan<byte> response, in DnsQuestion question) =>
        DnsWire.TryReadResponse(response, DnsWire.IdOf(response), question, [], [], out _) == DnsWireError.None;
}

using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Net;
using System.Security.Cryptography;
using System.Text;

namespace Corral.Lab;

/// <summary>
/// The name server behind the gateway's resolver: it stands for the internet's DNS up to the attacker's authoritative
/// server, so every name it is asked has left the agent's network. It answers the lab's names (LabNetwork) with one A
/// record and others NXDOMAIN, and keeps every question it receives.
/// </summary>
internal sealed class LabNameServer : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly LabNetwork _network;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public LabNameServer(IPEndPoint at, LabNetwork network, Func<Socket>? createSocket = null)
    {
        _network = network;
        _socket = createSocket?.Invoke() ?? new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        _socket.Bind(at);
        EndPoint = (IPEndPoint)_socket.LocalEndPoint!;
        _loop = Task.Run(ServeAsync);
    }

    public IPEndPoint EndPoint { get; }

    /// <summary>Every question received, lower case, with the bytes of its query.</summary>
    public ConcurrentQueue<(string Name, int Bytes)> Questions { get; } = new();

    private async Task ServeAsync()
    {
        var buffer = new byte[4096];
        while (!_stop.IsCancellationRequested)
        {
            SocketReceiveFromResult received;
            try { received = await _socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), _stop.Token); }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException) { return; }
            catch (SocketException) { continue; }
            var n = received.ReceivedBytes;
            if (n < 17) continue;
            var labels = new List<string>();
            var at = 12;
            while (at < n && buffer[at] != 0 && buffer[at] < 64 && at + 1 + buffer[at] <= n)
            {
                labels.Add(Encoding.ASCII.GetString(buffer, at + 1, buffer[at]).ToLowerInvariant());
                at += 1 + buffer[at];
            }
            var end = at + 5;
            if (end > n) continue;
            var name = string.Join('.', labels);
            Questions.Enqueue((name, n));
            var type = (buffer[at + 1] << 8) | buffer[at + 2];
            var address = _network.Resolve(name);
            var answer = new List<byte>(buffer[..end]);
            answer[2] = (byte)(0x84 | (buffer[2] & 0x01));
            answer[3] = (byte)(address is null ? 0x83 : 0x80); // NXDOMAIN for a name the lab does not know
            answer[6] = 0; answer[7] = (byte)(address is not null && type == 1 ? 1 : 0);
            answer[8] = answer[9] = answer[10] = answer[11] = 0;
            if (address is not null && type == 1)
            {
                answer.AddRange([0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
                answer.AddRange(address.GetAddressBytes());
            }
            try { await _socket.SendToAsync(answer.ToArray(), SocketFlags.None, received.RemoteEndPoint); }
            catch (SocketException) { }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _socket.Dispose();
        await _loop;
    }
}

/// <summary>The agent's side of DNS: a query to its resolver (the gateway) from a socket in the agent's network.</summary>
internal sealed class AgentResolver(IPEndPoint resolver, Func<Socket> createSocket, IPAddress bindTo)
{
    public IPEndPoint EndPoint => resolver;

    public sealed record Answer(int ResponseCode, IReadOnlyList<IPAddress> Addresses)
    {
        public string Describe() => ResponseCode switch { 0 => $"NOERROR {string.Join(", ", Addresses)}", 3 => "NXDOMAIN", 5 => "REFUSED", var c => $"rcode {c}" };
    }

    /// <summary>Asks for the A record of <paramref name="name"/>; null when no answer came.</summary>
    public async Task<Answer?> ResolveAsync(string name, CancellationToken ct)
    {
        using var socket = createSocket();
        socket.Bind(new IPEndPoint(bindTo, 0));
        var id = (ushort)RandomNumberGenerator.GetInt32(ushort.MaxValue);
        var query = new List<byte> { (byte)(id >> 8), (byte)id, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0 };
        foreach (var label in name.Split('.')) { query.Add((byte)label.Length); query.AddRange(Encoding.ASCII.GetBytes(label)); }
        query.AddRange([0, 0, 1, 0, 1]);
        await socket.SendToAsync(query.ToArray(), SocketFlags.None, resolver, ct);
        var buffer = new byte[4096];
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(5));
        int n;
        try { n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token); }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested) { return null; }
        if (n < 12 || ((buffer[0] << 8) | buffer[1]) != id) return null;
        var addresses = new List<IPAddress>();
        var at = 12;
        while (at < n && buffer[at] != 0) at += 1 + buffer[at];
        at += 5;
        for (var i = 0; i < ((buffer[6] << 8) | buffer[7]) && at + 12 <= n; i++)
        {
            at += (buffer[at] & 0xC0) == 0xC0 ? 2 : 0;
            var type = (buffer[at] << 8) | buffer[at + 1];
            var length = (buffer[at + 8] << 8) | buffer[at + 9];
            if (type == 1 && length == 4 && at + 14 <= n) addresses.Add(new IPAddress(buffer.AsSpan(at + 10, 4)));
            at += 10 + length;
        }
        return new Answer(buffer[3] & 0x0F, addresses);
    }
}

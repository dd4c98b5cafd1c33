using System.Net;
using System.Net.Sockets;
using Corral.Testing;

namespace Corral.Gateway.Tests.Support;

/// <summary>
/// A stand-in TLS server on a fresh loopback address that speaks only record framing, so a test can make it answer
/// a ClientHello with a HelloRetryRequest (or a TLS 1.2 ServerHello) and see exactly which records reach it. After a
/// HelloRetryRequest it answers the next ClientHello with a TLS 1.3 ServerHello and an (opaque) record of its own.
/// </summary>
public sealed class TlsScriptServer : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private readonly List<byte[]> _records = [];

    /// <summary>How the server answers the first ClientHello: "retry" (a HelloRetryRequest), "tls12" (a TLS 1.2 ServerHello), "silent".</summary>
    private TlsScriptServer(TcpListener listener, string firstAnswer)
    {
        _listener = listener;
        _loop = Task.Run(() => ServeAsync(firstAnswer));
    }

    public IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndpoint;

    /// <summary>Every record received, whole (header included).</summary>
    public IReadOnlyList<byte[]> Records { get { lock (_records) return [.. _records]; } }

    private int _clientHellos;

    /// <summary>The whole ClientHello messages received (handshake messages reassembled across records, as a server does).</summary>
    public int ClientHellos => Volatile.Read(ref _clientHellos);

    /// <param name="address">Where to listen: a fresh loopback address unless given.</param>
    public static TlsScriptServer Start(int port, string firstAnswer, IPAddress? address = null)
    {
        for (var attempt = 0; ; attempt++)
        {
            var listener = new TcpListener(address ?? LoopbackAddresses.Next(), port);
            try
            {
                listener.Start();
                return new TlsScriptServer(listener, firstAnswer);
            }
            catch (SocketException) when (attempt < 20)
            {
                listener.Dispose();
            }
        }
    }

    private async Task ServeAsync(string firstAnswer)
    {
        try
        {
            using var client = await _listener.AcceptTcpClientAsync(_stop.Token);
            var stream = client.GetStream();
            var hellos = 0;
            var handshake = new List<byte>();
            while (await ReadRecordAsync(stream) is { } record)
            {
                lock (_records) _records.Add(record);
                if (record[0] != 0x16) continue;
                // A server answers a ClientHello once it has all of it: a message split over several records is one.
                handshake.AddRange(record.AsSpan(5).ToArray());
                if (handshake.Count < 4) continue;
                var length = (handshake[1] << 16) | (handshake[2] << 8) | handshake[3];
                if (handshake.Count < 4 + length) continue;
                var type = handshake[0];
                handshake.RemoveRange(0, 4 + length);
                if (type != 1) continue;
                Interlocked.Increment(ref _clientHellos);
                hellos++;
                byte[] answer = hellos == 1
                    ? firstAnswer switch
                    {
                        "retry" => ClientHelloBuilder.Record(0x16, ClientHelloBuilder.ServerHello(retry: true, tls13: true)),
                        "tls12" => ClientHelloBuilder.Record(0x16, ClientHelloBuilder.ServerHello(retry: false, tls13: false)),
                        _ => [],
                    }
                    : [.. ClientHelloBuilder.Record(0x16, ClientHelloBuilder.ServerHello(retry: false, tls13: true)), .. ClientHelloBuilder.Record(0x17, "server-flight"u8.ToArray())];
                await stream.WriteAsync(answer, _stop.Token);
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException) { }
    }

    private async Task<byte[]?> ReadRecordAsync(NetworkStream stream)
    {
        var header = new byte[5];
        if (!await FillAsync(stream, header)) return null;
        var payload = new byte[(header[3] << 8) | header[4]];
        if (!await FillAsync(stream, payload)) return null;
        return [.. header, .. payload];
    }

    private async Task<bool> FillAsync(NetworkStream stream, byte[] buffer)
    {
        for (var have = 0; have < buffer.Length;)
        {
            var n = await stream.ReadAsync(buffer.AsMemory(have), _stop.Token);
            if (n == 0) return false;
            have += n;
        }
        return true;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try { await _loop; } catch (OperationCanceledException) { }
        _listener.Dispose();
        _stop.Dispose();
    }
}

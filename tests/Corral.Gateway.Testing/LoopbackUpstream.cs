using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Corral.Lab;

namespace Corral.Testing;

/// <summary>
/// A stand-in "internet" server on a loopback address of its own: plain HTTP or HTTPS (certificate minted here),
/// answering every request on a connection with 200 and a body naming the request line, or a fixed body (keep-alive
/// unless the client closes). Counts every TCP connection and byte it receives, so a test can prove a denied destination got nothing.
/// </summary>
public sealed class LoopbackUpstream : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly X509Certificate2? _certificate;
    private readonly string? _body;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private int _connections;
    private long _bytes;

    private LoopbackUpstream(TcpListener listener, X509Certificate2? certificate, string? body)
    {
        _listener = listener;
        _certificate = certificate;
        _body = body;
        _loop = Task.Run(AcceptLoopAsync);
    }

    public IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndpoint;
    public int Connections => Volatile.Read(ref _connections);
    public long BytesReceived => Interlocked.Read(ref _bytes);
    public List<string> Requests { get; } = [];
    /// <summary>Every request head received, whole (lock <see cref="Requests"/> to read).</summary>
    public List<string> Heads { get; } = [];
    public X509Certificate2? Certificate => _certificate;

    public int Port => EndPoint.Port;

    /// <summary>Starts on a fresh loopback address (127.x.y.z) and the given port (0: any); HTTPS when names are given.</summary>
    public static LoopbackUpstream Start(int port, params string[] tlsNames) =>
        Listen(port, tlsNames.Length > 0 ? TestCertificates.SelfSigned(tlsNames) : null, body: null);

    /// <summary>Plain HTTP on a fresh loopback address and any port, answering every request with <paramref name="body"/>.</summary>
    public static LoopbackUpstream Answering(string body) => Listen(0, certificate: null, body);

    private static LoopbackUpstream Listen(int port, X509Certificate2? certificate, string? body)
    {
        for (var attempt = 0; ; attempt++)
        {
            var address = LoopbackAddresses.Next();
            var listener = new TcpListener(address, port);
            try
            {
                listener.Start();
                return new LoopbackUpstream(listener, certificate, body);
            }
            catch (SocketException) when (attempt < 20)
            {
                listener.Dispose();
            }
        }
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await _listener.AcceptTcpClientAsync(_stop.Token); }
            catch (Exception) { return; }
            Interlocked.Increment(ref _connections);
            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                Stream stream = client.GetStream();
                var counting = new CountingStream(stream, n => Interlocked.Add(ref _bytes, n));
                stream = counting;
                if (_certificate is not null)
                {
                    var ssl = new SslStream(stream);
                    await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = _certificate }, _stop.Token);
                    stream = ssl;
                }
                var buffer = new byte[64 * 1024];
                var have = 0;
                while (true)
                {
                    var end = IndexOf(buffer, have);
                    while (end < 0)
                    {
                        var n = await stream.ReadAsync(buffer.AsMemory(have), _stop.Token);
                        if (n == 0) return;
                        have += n;
                        end = IndexOf(buffer, have);
                    }
                    var head = Encoding.Latin1.GetString(buffer, 0, end);
                    var lines = head.Split("\r\n");
                    lock (Requests) { Requests.Add(lines[0]); Heads.Add(head); }
                    var contentLength = lines.Skip(1).Select(l => l.Split(':', 2)).Where(p => p[0].Equals("Content-Length", StringComparison.OrdinalIgnoreCase)).Select(p => int.Parse(p[1])).FirstOrDefault();
                    var consumed = end + 4 + contentLength;
                    while (have < consumed)
                    {
                        var n = await stream.ReadAsync(buffer.AsMemory(have), _stop.Token);
                        if (n == 0) return;
                        have += n;
                    }
                    Buffer.BlockCopy(buffer, consumed, buffer, 0, have - consumed);
                    have -= consumed;
                    var body = Encoding.UTF8.GetBytes(_body ?? $"hello from upstream: {lines[0]}\n");
                    var response = Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {body.Length}\r\n\r\n");
                    await stream.WriteAsync(response.Concat(body).ToArray(), _stop.Token);
                    await stream.FlushAsync(_stop.Token);
                    if (head.Contains("Connection: close", StringComparison.OrdinalIgnoreCase)) return;
                }
            }
            catch (Exception)
            {
                // A test that expects a refusal may cut a connection mid-way; nothing to report here.
            }
        }
    }

    private static int IndexOf(byte[] b, int length)
    {
        for (var i = 0; i + 3 < length; i++)
            if (b[i] == '\r' && b[i + 1] == '\n' && b[i + 2] == '\r' && b[i + 3] == '\n') return i;
        return -1;
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        try { await _loop; } catch (Exception) { }
        _listener.Dispose();
        _stop.Dispose();
    }
}

/// <summary>Hands out distinct loopback addresses so tests running in parallel never share a listener address.</summary>
public static class LoopbackAddresses
{
    private static int _next = Random.Shared.Next(0, 200_000);

    public static IPAddress Next()
    {
        var n = Interlocked.Increment(ref _next);
        return new IPAddress([127, (byte)(10 + (n / 60_000) % 200), (byte)(n / 240 % 250), (byte)(2 + n % 240)]);
    }
}

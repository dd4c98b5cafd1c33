using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;

namespace Corral.ProxyBench;

/// <summary>Where a measurement goes: directly to the upstream, or through an explicit proxy at an address.</summary>
sealed record Target(IPEndPoint? Proxy, int TlsPort, int HttpPort)
{
    public static readonly IPAddress Upstream = IPAddress.Loopback;
}

/// <summary>
/// One client connection, written by hand so every target is measured by the same lean client: TCP connect,
/// CONNECT through the proxy when there is one, optional TLS (full handshakes: resumption off), HTTP/1.1 requests
/// with a small buffered response reader.
/// </summary>
sealed class BenchConnection : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly Stream _stream;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _start, _end;

    private BenchConnection(Socket socket, Stream stream) { _socket = socket; _stream = stream; }

    /// <summary>The issuer of the server certificate the client saw (TLS only): tells a bumped connection from a spliced one.</summary>
    public string? Issuer { get; private set; }

    public static async Task<BenchConnection> OpenTlsAsync(Target t, string host, CancellationToken ct = default)
    {
        var socket = await ConnectAsync(t, host, t.TlsPort, ct);
        var ssl = new SslStream(new NetworkStream(socket, ownsSocket: false), leaveInnerStreamOpen: false);
        try
        {
            await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = host,
                AllowTlsResume = false, // every new connection is a full handshake, through any target
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                // The chain differs by target (upstream CA, Corral's CA, Squid's CA); the issuer is reported instead.
                #pragma warning disable CA5359 // the bench talks only to its own loopback upstream with a throwaway certificate
                RemoteCertificateValidationCallback = (_, _, _, _) => true,
                #pragma warning restore CA5359
            }, ct);
        }
        catch
        {
            await ssl.DisposeAsync();
            socket.Dispose();
            throw;
        }
        return new BenchConnection(socket, ssl) { Issuer = ssl.RemoteCertificate?.Issuer };
    }

    public static async Task<BenchConnection> OpenPlainAsync(Target t, CancellationToken ct = default)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(t.Proxy ?? new IPEndPoint(Target.Upstream, t.HttpPort), ct);
        return new BenchConnection(socket, new NetworkStream(socket, ownsSocket: false));
    }

    // TCP to the upstream, or to the proxy followed by CONNECT host:port and its 2xx head.
    private static async Task<Socket> ConnectAsync(Target t, string host, int port, CancellationToken ct)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            if (t.Proxy is null) { await socket.ConnectAsync(new IPEndPoint(Target.Upstream, port), ct); return socket; }
            await socket.ConnectAsync(t.Proxy, ct);
            await socket.SendAsync(Encoding.ASCII.GetBytes($"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n"), ct);
            var head = new byte[1024];
            var got = 0;
            while (head.AsSpan(0, got).IndexOf("\r\n\r\n"u8) < 0) // a refusal may carry a body after its head
            {
                if (got == head.Length) throw new IOException("CONNECT answer head too long");
                var n = await socket.ReceiveAsync(head.AsMemory(got), ct);
                if (n == 0) throw new IOException("proxy closed during CONNECT");
                got += n;
            }
            if (got < 12 || head[9] != (byte)'2') throw new IOException("proxy refused CONNECT: " + Encoding.ASCII.GetString(head, 0, Math.Min(got, 200)).Split('\r')[0]);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Sends one GET; through a proxy in plain HTTP the target is in absolute form. <paramref name="close"/> asks the
    /// server to close after answering; <paramref name="extraHeader"/> is one more header line ("Name: value").
    /// </summary>
    public ValueTask SendGetAsync(string requestTarget, string hostHeader, CancellationToken ct = default, bool close = false, string? extraHeader = null) =>
        _stream.WriteAsync(Encoding.ASCII.GetBytes($"GET {requestTarget} HTTP/1.1\r\nHost: {hostHeader}\r\nUser-Agent: corral-proxybench\r\n" +
            $"{(extraHeader is null ? "" : extraHeader + "\r\n")}{(close ? "Connection: close\r\n" : "")}\r\n"), ct);

    /// <summary>After the last response: reads until the other side closes; a byte more is an error.</summary>
    public async Task ReadToEndAsync(CancellationToken ct = default)
    {
        if (_end > _start) throw new IOException($"{_end - _start} bytes after the last response");
        var n = await _stream.ReadAsync(_buffer, ct);
        if (n != 0) throw new IOException($"{n} bytes after the last response");
    }

    /// <summary>Reads one response (Content-Length bodies only) and returns the body length; a non-200 is an error.</summary>
    public async Task<long> ReadResponseAsync(CancellationToken ct = default)
    {
        int headEnd;
        while ((headEnd = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n\r\n"u8)) < 0)
        {
            if (_start > 0) { Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start); _end -= _start; _start = 0; }
            if (_end == _buffer.Length) throw new IOException("response head too long");
            var n = await _stream.ReadAsync(_buffer.AsMemory(_end), ct);
            if (n == 0) throw new IOException("connection closed before a response head");
            _end += n;
        }
        var head = Encoding.ASCII.GetString(_buffer, _start, headEnd);
        _start += headEnd + 4;
        if (head.Length < 12 || head[9] != '2') throw new IOException("response: " + head.Split('\r')[0]);
        long length = -1;
        foreach (var line in head.Split("\r\n"))
            if (line.StartsWith("content-length:", StringComparison.OrdinalIgnoreCase)) length = long.Parse(line.AsSpan(15).Trim());
        if (length < 0) throw new IOException("response without Content-Length: " + head.Split('\r')[0]);
        var left = length;
        var buffered = Math.Min(left, _end - _start);
        _start += (int)buffered;
        left -= buffered;
        if (_start == _end) _start = _end = 0;
        while (left > 0)
        {
            var n = await _stream.ReadAsync(_buffer, ct);
            if (n == 0) throw new IOException($"connection closed with {left} body bytes to go");
            if (n > left) { _start = (int)left; _end = n; break; }
            left -= n;
        }
        return length;
    }

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync();
        _socket.Dispose();
    }
}

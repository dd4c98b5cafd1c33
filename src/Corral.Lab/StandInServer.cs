using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Corral.Lab;

/// <summary>A request as a stand-in saw it.</summary>
public sealed record StandInRequest(string Method, string Path, string Host, string Body, string? Authorization = null)
{
    /// <summary>The Sec-WebSocket-Key of a WebSocket opening handshake; null for any other request.</summary>
    public string? WebSocketKey { get; init; }
}

/// <summary>What a stand-in answers: status, content type and body.</summary>
public sealed record StandInResponse(int Status, string ContentType, string Body);

/// <summary>
/// A small server for one stand-in host: a raw TCP listener that counts every byte it receives (before TLS, so even
/// a handshake counts), optional TLS with the stand-in's own certificate, and one HTTP/1.1 request per connection.
/// </summary>
public sealed class StandInServer : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly X509Certificate2? _certificate;
    private readonly IReadOnlyDictionary<string, X509Certificate2>? _certificatesByName;
    private readonly Func<StandInRequest, StandInResponse>? _handler;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private long _bytesReceived;
    private int _connections;
    private readonly List<StandInRequest> _requests = [];

    /// <param name="certificate">TLS certificate, or null for a plain TCP service (which only counts bytes).</param>
    /// <param name="handler">The HTTP behaviour, or null for a service that reads and never answers.</param>
    /// <param name="openSocket">Makes the listening socket (in a lab network namespace); null: a socket here.</param>
    public StandInServer(IPEndPoint endpoint, X509Certificate2? certificate, Func<StandInRequest, StandInResponse>? handler, Func<Socket>? openSocket = null)
        : this(endpoint, certificate, null, handler, openSocket)
    {
    }

    /// <summary>A TLS stand-in for several names: the certificate is chosen by the client's SNI (the first one without it).</summary>
    public static StandInServer ForNames(IPEndPoint endpoint, IReadOnlyDictionary<string, X509Certificate2> certificatesByName, Func<StandInRequest, StandInResponse> handler) =>
        new(endpoint, certificatesByName.Values.First(), certificatesByName, handler, null);

    private StandInServer(IPEndPoint endpoint, X509Certificate2? certificate, IReadOnlyDictionary<string, X509Certificate2>? certificatesByName,
        Func<StandInRequest, StandInResponse>? handler, Func<Socket>? openSocket)
    {
        _certificate = certificate;
        _certificatesByName = certificatesByName;
        _handler = handler;
        _listener = openSocket?.Invoke() ?? new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            _listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            _listener.Bind(endpoint);
            _listener.Listen(512);
        }
        catch
        {
            _listener.Dispose();
            throw;
        }
        _loop = AcceptLoopAsync();
    }

    /// <summary>Where the stand-in listens (its port is chosen by the system when asked for port 0).</summary>
    public IPEndPoint LocalEndPoint => (IPEndPoint)_listener.LocalEndPoint!;

    public long BytesReceived => Interlocked.Read(ref _bytesReceived);
    public int Connections => Volatile.Read(ref _connections);

    public IReadOnlyList<StandInRequest> Requests
    {
        get { lock (_requests) return [.. _requests]; }
    }

    private readonly List<string> _webSocketMessages = [];

    /// <summary>Every WebSocket message this stand-in received (a WebSocket upgrade is accepted by any TLS stand-in with a handler).</summary>
    public IReadOnlyList<string> WebSocketMessages
    {
        get { lock (_webSocketMessages) return [.. _webSocketMessages]; }
    }

    private async Task AcceptLoopAsync()
    {
        var sessions = new List<Task>();
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try { socket = await _listener.AcceptAsync(_stop.Token); }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException) { break; }
            Interlocked.Increment(ref _connections);
            sessions.Add(ServeAsync(socket));
        }
        await Task.WhenAll(sessions);
    }

    private async Task ServeAsync(Socket socket)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        try
        {
            await using var raw = new CountingStream(new NetworkStream(socket, ownsSocket: true), n => Interlocked.Add(ref _bytesReceived, n));
            if (_handler is null)
            {
                var sink = new byte[4096];
                while (await raw.ReadAsync(sink, timeout.Token) > 0) { }
                return;
            }
            Stream stream = raw;
            if (_certificate is not null)
            {
                var tls = new SslStream(raw);
                var options = _certificatesByName is { } byName
                    ? new SslServerAuthenticationOptions { ServerCertificateSelectionCallback = (_, sni) => byName.GetValueOrDefault(sni ?? "") ?? _certificate }
                    : new SslServerAuthenticationOptions { ServerCertificate = _certificate };
                await tls.AuthenticateAsServerAsync(options, timeout.Token);
                stream = tls;
            }
            var request = await ReadRequestAsync(stream, timeout.Token);
            if (request is null) return;
            lock (_requests) _requests.Add(request);
            if (request.WebSocketKey is { } key)
            {
                await ServeWebSocketAsync(stream, key, timeout.Token);
                return;
            }
            var response = _handler(request);
            var body = Encoding.UTF8.GetBytes(response.Body);
            var head = $"HTTP/1.1 {response.Status} OK\r\nContent-Type: {response.ContentType}\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n";
            await stream.WriteAsync(Encoding.ASCII.GetBytes(head), timeout.Token);
            await stream.WriteAsync(body, timeout.Token);
            await stream.FlushAsync(timeout.Token);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or System.Security.Authentication.AuthenticationException or SocketException) { }
    }

    // The runtime's own WebSocket (server side) after a 101: every message it receives is kept, nothing is answered.
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA5350", Justification = "RFC 6455 fixes SHA-1 for the accept value")]
    private async Task ServeWebSocketAsync(Stream stream, string key, CancellationToken ct)
    {
        var accept = Convert.ToBase64String(System.Security.Cryptography.SHA1.HashData(Encoding.ASCII.GetBytes(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"), ct);
        await stream.FlushAsync(ct);
        using var socket = System.Net.WebSockets.WebSocket.CreateFromStream(stream, new System.Net.WebSockets.WebSocketCreationOptions { IsServer = true });
        var buffer = new byte[1 << 20];
        try
        {
            while (true)
            {
                var length = 0;
                System.Net.WebSockets.ValueWebSocketReceiveResult result;
                do
                {
                    result = await socket.ReceiveAsync(buffer.AsMemory(length), ct);
                    length += result.Count;
                }
                while (!result.EndOfMessage && length < buffer.Length);
                if (result.MessageType == System.Net.WebSockets.WebSocketMessageType.Close) return;
                lock (_webSocketMessages) _webSocketMessages.Add(Encoding.UTF8.GetString(buffer, 0, length));
            }
        }
        catch (System.Net.WebSockets.WebSocketException) { } // the gateway closed under it
    }

    private static async Task<StandInRequest?> ReadRequestAsync(Stream stream, CancellationToken ct)
    {
        var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int headEnd;
        while ((headEnd = IndexOfHeadEnd(buffer)) < 0)
        {
            var n = await stream.ReadAsync(chunk, ct);
            if (n == 0 || buffer.Length > 64 * 1024) return null;
            buffer.Write(chunk, 0, n);
        }
        var all = buffer.ToArray();
        var head = Encoding.Latin1.GetString(all, 0, headEnd);
        var lines = head.Split("\r\n");
        var requestLine = lines[0].Split(' ');
        if (requestLine.Length != 3) return null;
        var headers = lines.Skip(1).Select(l => l.Split(':', 2)).Where(p => p.Length == 2)
            .ToDictionary(p => p[0].Trim(), p => p[1].Trim(), StringComparer.OrdinalIgnoreCase);
        var length = headers.TryGetValue("Content-Length", out var cl) && int.TryParse(cl, out var parsed) ? Math.Min(parsed, 16 << 20) : 0;
        var body = new MemoryStream();
        body.Write(all, headEnd + 4, all.Length - headEnd - 4);
        while (body.Length < length)
        {
            var n = await stream.ReadAsync(chunk, ct);
            if (n == 0) break;
            body.Write(chunk, 0, n);
        }
        return new StandInRequest(requestLine[0], requestLine[1], headers.GetValueOrDefault("Host") ?? "", Encoding.UTF8.GetString(body.ToArray()), headers.GetValueOrDefault("Authorization"))
        {
            WebSocketKey = headers.TryGetValue("Upgrade", out var upgrade) && upgrade.Equals("websocket", StringComparison.OrdinalIgnoreCase) ? headers.GetValueOrDefault("Sec-WebSocket-Key") : null,
        };
    }

    private static int IndexOfHeadEnd(MemoryStream buffer) =>
        buffer.GetBuffer().AsSpan(0, (int)buffer.Length).IndexOf("\r\n\r\n"u8);

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Dispose();
        await _loop;
    }
}

using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Threading.Channels;
using Corral.Certificates;
using Corral.Policy;
using Corral.Policy.Addressing;
using Corral.Policy.Compilation;
using Corral.Policy.Inspection;

namespace Corral.Interception.Tests;

/// <summary>
/// The upstream connection pool over real sockets: a hand-written HTTPS upstream that counts the TCP connections it
/// accepts and can close idle ones or drop a request, the interceptor in front, clients that open one intercepted
/// connection each.
/// </summary>
public sealed class UpstreamPoolTests : IAsyncLifetime
{
    private const string Name = "mcp.contoso.com";
    private readonly CertificateAuthority _interceptionCa = CertificateAuthority.Create(new CaOptions());
    private readonly CertificateAuthority _upstreamCa = CertificateAuthority.Create(new CaOptions { CommonName = "Pool Test Upstream CA" });
    private readonly ScriptedUpstream _upstream;
    private readonly CompiledPolicy _policy;
    private readonly PayloadInspector _inspector;
    private readonly TcpListener _front = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Channel<bool> _sessionsEnded = Channel.CreateUnbounded<bool>();
    private readonly ConcurrentQueue<InspectedRequest> _records = new();
    private TlsInterceptor _interceptor = null!;
    private Task _acceptLoop = Task.CompletedTask;

    public UpstreamPoolTests()
    {
        _upstream = new ScriptedUpstream(new LeafMinter(_upstreamCa).Mint(Name));
        var dir = Path.Combine(Path.GetTempPath(), "corral-pool-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "corral.yaml"), InterceptionFixture.Policy);
        Assert.True(IpPrefix.TryParse("127.0.0.1/32", out var standIn, out _));
        var check = PolicyChecker.CheckFile(Path.Combine(dir, "corral.yaml"), options: new CompileOptions { PublicStandIns = [standIn] });
        Directory.Delete(dir, true);
        Assert.True(check.Succeeded, string.Join("\n", check.Diagnostics));
        _policy = check.Compiled!;
        _inspector = new PayloadInspector(_policy.Document.Inspection);
    }

    private void Start(InterceptionOptions? options = null)
    {
        _interceptor = new TlsInterceptor(new LeafCertificateCache(new LeafMinter(_interceptionCa)),
            (options ?? new InterceptionOptions()) with { UpstreamTrust = [_upstreamCa.Certificate] });
        _front.Start();
        _acceptLoop = Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                Socket socket;
                try { socket = await _front.AcceptSocketAsync(_stop.Token); }
                catch (OperationCanceledException) { return; }
                _ = Task.Run(() => ServeAsync(socket));
            }
        });
    }

    private async Task ServeAsync(Socket socket)
    {
        try
        {
            await using var stream = new NetworkStream(socket, ownsSocket: true);
            await _interceptor.RunAsync(stream, Name, _upstream.EndPoint, 443, async ct =>
            {
                var s = new Socket(SocketType.Stream, ProtocolType.Tcp);
                await s.ConnectAsync(_upstream.EndPoint, ct);
                return new NetworkStream(s, ownsSocket: true);
            }, new Decider(this), _inspector, _stop.Token);
        }
        catch (Exception e) when (e is IOException or AuthenticationException or OperationCanceledException or SocketException) { }
        finally
        {
            _sessionsEnded.Writer.TryWrite(true);
        }
    }

    private sealed class Decider(UpstreamPoolTests t) : IRequestGate
    {
        public Verdict Admit(string path) => t._policy.Decide(new Flow
        {
            Source = IPAddress.Loopback, Host = Name, Port = 443, IsTls = true, Path = path, Destinations = [IPAddress.Loopback],
        });

        public void Complete(InspectedRequest request) => t._records.Enqueue(request);

        public Http.Refusal? ChargeBudget(string destination, long declaredBytes) => null;
        public bool IsToolHeld(string tool) => false;
        public IReadOnlyList<string> OnToolsListed(Mcp.McpToolListing listing) => [];
        public CompiledCredentials Credentials => CompiledCredentials.None;

        public string? CredentialValue(CompiledCredential credential, out string? problem)
        {
            problem = "the pool test reads no credential values";
            return null;
        }
    }

    /// <summary>One intercepted client connection: TLS to the interceptor, trusting only the interception CA.</summary>
    private async Task<SslStream> OpenAsync()
    {
        var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)_front.LocalEndpoint).Port);
        var stream = client.GetStream();
        var tls = new SslStream(stream, false);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = Name, CertificateChainPolicy = InterceptionFixture.TrustOnly(_interceptionCa.Certificate) });
        return tls;
    }

    /// <summary>Sends one request and reads its response head and Content-Length body; returns the status line and body.</summary>
    private static async Task<(string Status, string Body)> ExchangeAsync(Stream tls, string method, string path, string? body = null)
    {
        var head = $"{method} {path} HTTP/1.1\r\nHost: {Name}\r\n" + (body is null ? "" : $"Content-Length: {body.Length}\r\n") + "\r\n";
        await tls.WriteAsync(Encoding.ASCII.GetBytes(head + body));
        await tls.FlushAsync();
        return await ScriptedUpstream.ReadMessageAsync(tls) is { } m ? (m.StartLine, m.Body) : ("(closed)", "");
    }

    /// <summary>One client connection with one request, closed by the client; returns once the interceptor has finished with it.</summary>
    private async Task<(string Status, string Body)> OneConnectionAsync(string method, string path, string? body = null)
    {
        (string, string) result;
        await using (var tls = await OpenAsync()) result = await ExchangeAsync(tls, method, path, body);
        await SessionEndedAsync();
        return result;
    }

    private async Task SessionEndedAsync() => await _sessionsEnded.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(20));

    [Fact]
    public async Task Two_sequential_client_connections_share_one_upstream_connection_and_each_request_is_decided_and_logged()
    {
        Start();
        Assert.StartsWith("HTTP/1.1 200", (await OneConnectionAsync("GET", "/a")).Status);
        Assert.Equal(1, _interceptor.IdleUpstreams);
        Assert.StartsWith("HTTP/1.1 200", (await OneConnectionAsync("GET", "/b")).Status);
        Assert.Equal(1, _upstream.Accepted);
        Assert.Equal(["GET /a", "GET /b"], _upstream.Requests);
        Assert.Equal(["https://mcp.contoso.com/a", "https://mcp.contoso.com/b"], _records.Select(r => r.Url));
        Assert.All(_records, r => Assert.Equal("allow-tool-calls", r.Verdict.Rule?.Name));
    }

    [Fact]
    public async Task A_denied_request_on_a_new_client_connection_never_reaches_a_pooled_upstream_connection()
    {
        Start();
        await OneConnectionAsync("GET", "/a");
        Assert.StartsWith("HTTP/1.1 403", await DeniedFrontingAsync());
        Assert.Equal(["GET /a"], _upstream.Requests);
        Assert.Equal(1, _interceptor.IdleUpstreams); // still idle: the refused request never touched it
        Assert.Equal([200, 403], _records.Select(r => r.Status));
    }

    // A Host that differs from the SNI is refused before any upstream is touched, pooled or not.
    private async Task<string> DeniedFrontingAsync()
    {
        await using var tls = await OpenAsync();
        await tls.WriteAsync("GET /a HTTP/1.1\r\nHost: collector.attacker.example\r\n\r\n"u8.ToArray());
        var m = await ScriptedUpstream.ReadMessageAsync(tls);
        await tls.DisposeAsync();
        await SessionEndedAsync();
        return m?.StartLine ?? "(closed)";
    }

    [Fact]
    public async Task An_upstream_connection_that_answered_Connection_close_is_not_reused()
    {
        Start();
        Assert.StartsWith("HTTP/1.1 200", (await OneConnectionAsync("GET", "/close")).Status);
        Assert.Equal(0, _interceptor.IdleUpstreams);
        Assert.StartsWith("HTTP/1.1 200", (await OneConnectionAsync("GET", "/a")).Status);
        Assert.Equal(2, _upstream.Accepted);
    }

    [Fact]
    public async Task A_client_asking_Connection_close_ends_its_own_hop_and_its_upstream_connection_is_reused()
    {
        // Connection is hop-by-hop (RFC 9110 7.6.1): the client's close is not forwarded, so the upstream connection,
        // read to the end of its response, is as clean as after any other request and serves the next flow.
        Start();
        await using (var tls = await OpenAsync())
        {
            await tls.WriteAsync(Encoding.ASCII.GetBytes($"GET /a HTTP/1.1\r\nHost: {Name}\r\nConnection: close\r\n\r\n"));
            Assert.StartsWith("HTTP/1.1 200", (await ScriptedUpstream.ReadMessageAsync(tls))!.Value.StartLine);
            Assert.Null(await ScriptedUpstream.ReadMessageAsync(tls)); // the gateway closed the client's hop, as asked
        }
        await SessionEndedAsync();
        Assert.Equal(1, _interceptor.IdleUpstreams);
        await OneConnectionAsync("GET", "/a");
        Assert.Equal(1, _upstream.Accepted);
    }

    [Fact]
    public async Task An_upstream_connection_whose_response_body_was_not_read_to_its_end_is_not_reused()
    {
        Start();
        await using (var tls = await OpenAsync())
        {
            await tls.WriteAsync(Encoding.ASCII.GetBytes($"GET /big HTTP/1.1\r\nHost: {Name}\r\n\r\n"));
            var first = new byte[64];
            Assert.True(await tls.ReadAsync(first) > 0); // the head has come; the client leaves mid-body
        }
        await SessionEndedAsync();
        Assert.Equal(0, _interceptor.IdleUpstreams);
        Assert.StartsWith("HTTP/1.1 200", (await OneConnectionAsync("GET", "/a")).Status);
        Assert.Equal(2, _upstream.Accepted);
    }

    [Fact]
    public async Task The_pool_keeps_no_more_idle_connections_per_name_than_its_bound()
    {
        Start(new InterceptionOptions { MaxIdleUpstreamsPerKey = 2, MaxIdleUpstreams = 8 });
        var open = new List<SslStream>();
        for (var i = 0; i < 4; i++)
        {
            var tls = await OpenAsync();
            Assert.StartsWith("HTTP/1.1 200", (await ExchangeAsync(tls, "GET", "/a")).Status);
            open.Add(tls); // all four in use at once: four upstream connections
        }
        Assert.Equal(4, _upstream.Accepted);
        foreach (var tls in open)
        {
            await tls.DisposeAsync();
            await SessionEndedAsync();
        }
        Assert.Equal(2, _interceptor.IdleUpstreams);
        for (var i = 0; i < 3; i++) await OneConnectionAsync("GET", "/a");
        Assert.Equal(4, _upstream.Accepted); // sequential connections reuse the kept ones
    }

    [Fact]
    public async Task The_pool_keeps_no_more_idle_connections_in_all_than_its_total_bound()
    {
        Start(new InterceptionOptions { MaxIdleUpstreamsPerKey = 8, MaxIdleUpstreams = 1 });
        var a = await OpenAsync();
        var b = await OpenAsync();
        await ExchangeAsync(a, "GET", "/a");
        await ExchangeAsync(b, "GET", "/a");
        await a.DisposeAsync();
        await SessionEndedAsync();
        await b.DisposeAsync();
        await SessionEndedAsync();
        Assert.Equal(1, _interceptor.IdleUpstreams);
    }

    [Fact]
    public async Task Pooling_off_means_every_client_connection_dials_its_own_upstream()
    {
        Start(new InterceptionOptions { UpstreamIdleTimeout = TimeSpan.Zero });
        await OneConnectionAsync("GET", "/a");
        await OneConnectionAsync("GET", "/a");
        Assert.Equal(2, _upstream.Accepted);
        Assert.Equal(0, _interceptor.IdleUpstreams);
    }

    [Fact]
    public async Task A_pooled_connection_the_upstream_has_closed_is_not_used_for_a_POST()
    {
        Start();
        await OneConnectionAsync("GET", "/a");
        _upstream.CloseAll(); // the upstream ends its idle keep-alive connection
        var (status, body) = await OneConnectionAsync("POST", "/echo", "payload");
        Assert.StartsWith("HTTP/1.1 200", status);
        Assert.Equal("got 7", body);
        Assert.Equal(2, _upstream.Accepted);
        Assert.Equal(["GET /a", "POST /echo"], _upstream.Requests);
    }

    [Fact]
    public async Task A_GET_that_a_reused_connection_drops_unanswered_is_sent_once_more_on_a_fresh_connection()
    {
        Start();
        await OneConnectionAsync("GET", "/a");
        _upstream.DropNextRequestOnOldConnections();
        var (status, body) = await OneConnectionAsync("GET", "/b");
        Assert.StartsWith("HTTP/1.1 200", status);
        Assert.Equal("ok /b", body);
        Assert.Equal(2, _upstream.Accepted);
        Assert.Equal(["GET /a", "GET /b", "GET /b"], _upstream.Requests);
        Assert.Equal(2, _records.Count); // one record per client request, not per attempt
    }

    [Fact]
    public async Task A_POST_that_a_reused_connection_drops_unanswered_is_not_sent_again_and_gets_502()
    {
        Start();
        await OneConnectionAsync("GET", "/a");
        _upstream.DropNextRequestOnOldConnections();
        var (status, _) = await OneConnectionAsync("POST", "/echo", "payload");
        Assert.StartsWith("HTTP/1.1 502", status);
        Assert.Equal(1, _upstream.Accepted);
        Assert.Equal(["GET /a", "POST /echo"], _upstream.Requests);
        Assert.Equal(502, _records.Last().Status);
    }

    [Fact]
    public async Task A_connection_that_carried_NTLM_authentication_is_never_lent_to_another_client()
    {
        Start();
        await using (var tls = await OpenAsync())
        {
            await tls.WriteAsync(Encoding.ASCII.GetBytes($"GET /a HTTP/1.1\r\nHost: {Name}\r\nAuthorization: NTLM TlRMTVNTUAABAAAA\r\n\r\n"));
            Assert.StartsWith("HTTP/1.1 200", (await ScriptedUpstream.ReadMessageAsync(tls))!.Value.StartLine);
        }
        await SessionEndedAsync();
        Assert.Equal(0, _interceptor.IdleUpstreams);
        await OneConnectionAsync("GET", "/a");
        Assert.Equal(2, _upstream.Accepted);
    }

    [Fact]
    public async Task Disposing_the_interceptor_closes_its_idle_upstream_connections()
    {
        Start();
        await OneConnectionAsync("GET", "/a");
        Assert.Equal(1, _interceptor.IdleUpstreams);
        _interceptor.Dispose();
        Assert.Equal(0, _interceptor.IdleUpstreams);
        await _upstream.AllClosedAsync().WaitAsync(TimeSpan.FromSeconds(20));
    }

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _front.Stop();
        await _acceptLoop;
        _interceptor?.Dispose();
        await _upstream.DisposeAsync();
        _interceptionCa.Dispose();
        _upstreamCa.Dispose();
    }

    /// <summary>
    /// A minimal HTTPS/1.1 server: counts accepted TCP connections and records each request. GET /close answers with
    /// Connection: close, GET /big sends 64 MiB, POST /echo answers the body length, anything else "ok PATH".
    /// </summary>
    private sealed class ScriptedUpstream : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly X509Certificate2 _certificate;
        private readonly CancellationTokenSource _stop = new();
        private readonly ConcurrentDictionary<Socket, bool> _open = new();
        private readonly ConcurrentQueue<string> _requests = new();
        private readonly Task _acceptLoop;
        private int _accepted;
        private long _dropBefore = -1;
        private long _nextId;

        public ScriptedUpstream(X509Certificate2 certificate)
        {
            _certificate = certificate;
            _listener.Start();
            EndPoint = (IPEndPoint)_listener.LocalEndpoint;
            _acceptLoop = Task.Run(AcceptLoopAsync);
        }

        public IPEndPoint EndPoint { get; }
        public int Accepted => Volatile.Read(ref _accepted);
        public string[] Requests => [.. _requests];

        /// <summary>Closes every connection the upstream holds (as an idle keep-alive timeout would).</summary>
        public void CloseAll()
        {
            foreach (var s in _open.Keys)
            {
                // Its serving task may have closed it already (the client went first): that is closed too.
                try { s.Shutdown(SocketShutdown.Both); } catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
                s.Dispose();
            }
        }

        /// <summary>The next request on a connection accepted before now is read and then answered by closing.</summary>
        public void DropNextRequestOnOldConnections() => Interlocked.Exchange(ref _dropBefore, Interlocked.Read(ref _nextId));

        public async Task AllClosedAsync()
        {
            while (!_open.IsEmpty) await Task.Delay(20);
        }

        private async Task AcceptLoopAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                Socket socket;
                try { socket = await _listener.AcceptSocketAsync(_stop.Token); }
                catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException) { return; }
                Interlocked.Increment(ref _accepted);
                _open[socket] = true;
                var id = Interlocked.Increment(ref _nextId) - 1;
                _ = Task.Run(() => ServeAsync(socket, id));
            }
        }

        private async Task ServeAsync(Socket socket, long id)
        {
            try
            {
                await using var tls = new SslStream(new NetworkStream(socket, ownsSocket: true));
                await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = _certificate }, _stop.Token);
                while (await ReadMessageAsync(tls) is { } request)
                {
                    var parts = request.StartLine.Split(' ');
                    _requests.Enqueue($"{parts[0]} {parts[1]}");
                    if (id < Interlocked.Read(ref _dropBefore))
                    {
                        Interlocked.Exchange(ref _dropBefore, -1);
                        return;
                    }
                    if (parts[1] == "/big")
                    {
                        const int size = 64 << 20;
                        await tls.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n"));
                        var chunk = new byte[64 * 1024];
                        for (var left = size; left > 0; left -= chunk.Length) await tls.WriteAsync(chunk);
                        continue;
                    }
                    var close = parts[1] == "/close";
                    var body = parts[0] == "POST" ? $"got {request.Body.Length}" : $"ok {parts[1]}";
                    await tls.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Length: {body.Length}\r\n{(close ? "Connection: close\r\n" : "")}\r\n{body}"));
                    await tls.FlushAsync();
                    if (close) return;
                }
            }
            catch (Exception e) when (e is IOException or AuthenticationException or OperationCanceledException or ObjectDisposedException or SocketException) { }
            finally
            {
                _open.TryRemove(socket, out _);
                socket.Dispose();
            }
        }

        /// <summary>Reads one HTTP/1.1 message with an optional Content-Length body; null at a clean end of stream.</summary>
        public static async Task<(string StartLine, string Body)?> ReadMessageAsync(Stream stream)
        {
            var head = new List<byte>();
            var one = new byte[1];
            while (head.Count < 4 || head[^1] != '\n' || head[^2] != '\r' || head[^3] != '\n' || head[^4] != '\r')
            {
                int n;
                try { n = await stream.ReadAsync(one); }
                catch (IOException) { return null; }
                if (n == 0) return null;
                head.Add(one[0]);
            }
            var lines = Encoding.ASCII.GetString([.. head]).Split("\r\n");
            var length = lines.Where(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase)).Select(l => int.Parse(l[15..].Trim())).FirstOrDefault();
            var body = new byte[length];
            await stream.ReadExactlyAsync(body);
            return (lines[0], Encoding.ASCII.GetString(body));
        }

        public async ValueTask DisposeAsync()
        {
            _stop.Cancel();
            _listener.Stop();
            await _acceptLoop;
            CloseAll();
        }
    }
}

using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Corral.Certificates;
using Corral.Policy;
using Corral.Policy.Addressing;
using Corral.Policy.Compilation;
using Corral.Policy.Inspection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace Corral.Interception.Tests;

/// <summary>
/// A real upstream HTTPS server (Kestrel, certificate from its own test CA), the interceptor in front of it on a
/// loopback listener, and clients that trust the interception CA. Every byte goes over real sockets and real TLS.
/// </summary>
public sealed class InterceptionFixture : IAsyncDisposable
{
    public const string Policy = """
        version: 1
        smartGroups:
          agents: { cidrs: [127.0.0.0/8] }
        webGroups:
          tools:
            domains: [mcp.contoso.com]
            urls: ["api.github.com/repos/contoso/*"]
        rules:
          - { name: allow-tool-calls, priority: 1, source: [agents], webGroups: [tools], action: permit, decrypt: allowed, ports: [443] }
          - { name: default-deny-internet, priority: 2, source: [agents], destination: [public-internet], action: deny }
        """;

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "corral-int-" + Guid.NewGuid().ToString("N"));
    private readonly TcpListener _front = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _sessions = [];
    private WebApplication? _upstream;
    private Task? _acceptLoop;

    public CertificateAuthority InterceptionCa { get; } = CertificateAuthority.Create(new CaOptions());
    public CertificateAuthority UpstreamCa { get; } = CertificateAuthority.Create(new CaOptions { CommonName = "Test Upstream CA" });
    public CompiledPolicy Compiled { get; private set; } = null!;
    public ConcurrentQueue<InspectedRequest> Records { get; } = new();
    public ConcurrentQueue<string> UpstreamSaw { get; } = new();
    public ConcurrentQueue<int> EchoCompleted { get; } = new();

    /// <summary>Every tools/list answer the gateway compared with the pins (the gate's OnToolsListed).</summary>
    public ConcurrentQueue<Mcp.McpToolListing> ToolListings { get; } = new();

    /// <summary>Every WebSocket message the upstream's /ws echo received (text as UTF-8 bytes), in order.</summary>
    public ConcurrentQueue<byte[]> WebSocketMessages { get; } = new();

    /// <summary>The Sec-WebSocket-Extensions each upgrade brought the upstream ("" for none).</summary>
    public ConcurrentQueue<string> WebSocketExtensionsOffered { get; } = new();
    public int UpstreamConnections => _upstreamConnections;
    public int FrontPort => ((IPEndPoint)_front.LocalEndpoint).Port;
    private int _upstreamConnections;
    private int _upstreamPort;

    /// <summary>Which certificate the upstream presents; tests swap in bad ones.</summary>
    public X509Certificate2 UpstreamCertificate { get; set; } = null!;

    /// <param name="policy">The policy to intercept under (<see cref="Policy"/> unless a test needs another rule).</param>
    public static async Task<InterceptionFixture> StartAsync(string? policy = null)
    {
        var f = new InterceptionFixture();
        await f.InitAsync(policy ?? Policy);
        return f;
    }

    private async Task InitAsync(string policy)
    {
        Directory.CreateDirectory(_dir);
        File.WriteAllText(Path.Combine(_dir, "corral.yaml"), policy);
        Assert.True(IpPrefix.TryParse("127.0.0.1/32", out var standIn, out _));
        var check = PolicyChecker.CheckFile(Path.Combine(_dir, "corral.yaml"), options: new CompileOptions { PublicStandIns = [standIn] });
        Assert.True(check.Succeeded, string.Join("\n", check.Diagnostics));
        Compiled = check.Compiled!;
        var upstreamMinter = new LeafMinter(UpstreamCa);
        UpstreamCertificate = upstreamMinter.Mint("mcp.contoso.com");
        var github = upstreamMinter.Mint("api.github.com");

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = null; // uploads larger than Kestrel's 30 MB default reach the echo
            k.Listen(IPAddress.Loopback, 0, listen =>
            {
                listen.Protocols = HttpProtocols.Http1;
                listen.UseHttps(https => https.ServerCertificateSelector = (_, name) => name == "api.github.com" ? github : UpstreamCertificate);
            });
        });
        var app = builder.Build();
        app.Use(async (context, next) =>
        {
            UpstreamSaw.Enqueue($"{context.Request.Method} {context.Request.Host}{context.Request.Path}");
            await next();
        });
        app.UseWebSockets();
        app.Map("/ws", EchoWebSocketAsync);
        app.MapGet("/hello", () => "hi");
        app.MapGet("/repos/{owner}/{repo}", (string owner, string repo) => $"repo {owner}/{repo}");
        app.MapPost("/echo", async (HttpRequest request) =>
        {
            using var reader = new StreamReader(request.Body);
            var body = await reader.ReadToEndAsync();
            EchoCompleted.Enqueue(body.Length);
            return $"got {body.Length}";
        });
        app.MapGet("/chunked", async (HttpResponse response) =>
        {
            for (var i = 0; i < 3; i++)
            {
                await response.WriteAsync($"part{i};");
                await response.Body.FlushAsync();
            }
        });
        _upstream = app;
        await app.StartAsync();
        _upstreamPort = new Uri(app.Urls.First()).Port;

        _front.Start();
        var inspector = Compiled.Inspector; // the policy's patterns and its credentials' placeholders, as the gateway's snapshot has them
        var interceptor = new TlsInterceptor(new LeafCertificateCache(new LeafMinter(InterceptionCa)),
            new InterceptionOptions { UpstreamTrust = [UpstreamCa.Certificate] });
        _acceptLoop = Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                Socket socket;
                try { socket = await _front.AcceptSocketAsync(_stop.Token); }
                catch (OperationCanceledException) { return; }
                lock (_sessions) _sessions.Add(Task.Run(() => ServeAsync(socket, interceptor, inspector)));
            }
        });
    }

    // A WebSocket echo that would take permessage-deflate if it were offered: the gateway must never let it be.
    private async Task EchoWebSocketAsync(HttpContext context)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            context.Response.StatusCode = 400;
            return;
        }
        WebSocketExtensionsOffered.Enqueue(context.Request.Headers["Sec-WebSocket-Extensions"].ToString());
        using var socket = await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext { DangerousEnableCompression = true });
        var buffer = new byte[4 << 20];
        try
        {
            while (true)
            {
                var length = 0;
                ValueWebSocketReceiveResult result;
                do
                {
                    result = await socket.ReceiveAsync(buffer.AsMemory(length), CancellationToken.None);
                    length += result.Count;
                }
                while (!result.EndOfMessage && result.MessageType != WebSocketMessageType.Close);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    await socket.CloseOutputAsync(socket.CloseStatus ?? WebSocketCloseStatus.NormalClosure, socket.CloseStatusDescription, CancellationToken.None);
                    return;
                }
                WebSocketMessages.Enqueue(buffer.AsSpan(0, length).ToArray());
                await socket.SendAsync(buffer.AsMemory(0, length), result.MessageType, true, CancellationToken.None);
            }
        }
        catch (WebSocketException) { } // the gateway closed the connection under it
        finally
        {
            Interlocked.Increment(ref _webSocketsEnded);
        }
    }

    private int _webSocketsEnded;

    /// <summary>Waits until every WebSocket the upstream accepted has ended (so everything it received is in <see cref="WebSocketMessages"/>).</summary>
    public async Task WebSocketsEndedAsync()
    {
        for (var i = 0; i < 200 && Volatile.Read(ref _webSocketsEnded) < WebSocketExtensionsOffered.Count; i++) await Task.Delay(25);
        Assert.Equal(WebSocketExtensionsOffered.Count, Volatile.Read(ref _webSocketsEnded));
    }

    /// <summary>A WebSocket through the interceptor to <paramref name="url"/>, trusting only the interception CA.</summary>
    public async Task<ClientWebSocket> WebSocketAsync(string url, Action<ClientWebSocketOptions>? configure = null)
    {
        var socket = new ClientWebSocket();
        configure?.Invoke(socket.Options);
        await socket.ConnectAsync(new Uri(url), Client(), TestContext.Current.CancellationToken);
        return socket;
    }

    /// <summary>The gateway's part, simplified: the client's first bytes name the server (a test header line), then interception.</summary>
    private async Task ServeAsync(Socket socket, TlsInterceptor interceptor, PayloadInspector inspector)
    {
        await using var stream = new NetworkStream(socket, ownsSocket: true);
        try
        {
            var name = await ReadServerNameAsync(stream);
            await interceptor.RunAsync(stream, name, new IPEndPoint(IPAddress.Loopback, _upstreamPort), 443, async ct =>
            {
                Interlocked.Increment(ref _upstreamConnections);
                var upstream = new TcpClient();
                await upstream.ConnectAsync(IPAddress.Loopback, _upstreamPort, ct);
                return upstream.GetStream();
            }, new Decider(this, name), inspector, _stop.Token);
        }
        catch (Exception e) when (e is IOException or System.Security.Authentication.AuthenticationException or OperationCanceledException) { }
    }

    // Tests prefix each connection with "name\n" so the fixture knows the SNI without a ClientHello parser.
    private static async Task<string> ReadServerNameAsync(Stream stream)
    {
        var bytes = new List<byte>();
        var one = new byte[1];
        while (await stream.ReadAsync(one) == 1 && one[0] != '\n') bytes.Add(one[0]);
        return System.Text.Encoding.ASCII.GetString(bytes.ToArray());
    }

    private sealed class Decider(InterceptionFixture fixture, string host) : IRequestGate
    {
        public Verdict Admit(string path) => fixture.Compiled.Decide(new Flow
        {
            Source = IPAddress.Loopback, Host = host, Port = 443, IsTls = true, Path = path, Destinations = [IPAddress.Loopback],
        });

        public void Complete(InspectedRequest request) => fixture.Records.Enqueue(request);

        public CompiledCredentials Credentials => fixture.Compiled.Credentials;

        public Http.Refusal? ChargeBudget(string destination, long declaredBytes) => null; // no agents here

        public bool IsToolHeld(string tool) => false;

        public string? CredentialValue(CompiledCredential credential, out string? problem)
        {
            problem = "the interception fixture reads no credential values";
            return null;
        }

        public IReadOnlyList<string> OnToolsListed(Mcp.McpToolListing listing)
        {
            fixture.ToolListings.Enqueue(listing);
            return [];
        }
    }

    /// <summary>A raw TLS connection through the interceptor, trusting only the interception CA.</summary>
    public async Task<SslStream> ConnectRawAsync(string serverName)
    {
        var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, FrontPort);
        var stream = client.GetStream();
        await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(serverName + "\n"));
        var tls = new SslStream(stream, false);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = serverName, CertificateChainPolicy = TrustOnly(InterceptionCa.Certificate) });
        return tls;
    }

    /// <summary>An HttpClient whose every connection goes through the interceptor, trusting only the interception CA.</summary>
    public HttpClient Client(Action<X509Certificate2>? seen = null)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (context, ct) =>
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                await socket.ConnectAsync(IPAddress.Loopback, FrontPort, ct);
                var stream = new NetworkStream(socket, true);
                await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(context.DnsEndPoint.Host + "\n"), ct);
                return stream;
            },
            SslOptions = new SslClientAuthenticationOptions
            {
                CertificateChainPolicy = TrustOnly(InterceptionCa.Certificate),
                RemoteCertificateValidationCallback = (_, cert, _, errors) =>
                {
                    if (cert is not null) seen?.Invoke(new X509Certificate2(cert));
                    return errors == SslPolicyErrors.None;
                },
            },
        };
        return new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(30) };
    }

    public static X509ChainPolicy TrustOnly(X509Certificate2 root)
    {
        var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
        policy.CustomTrustStore.Add(root);
        return policy;
    }

    /// <summary>A certificate for mcp.contoso.com that is expired, self-signed, or for another name.</summary>
    public X509Certificate2 BadUpstreamCertificate(string kind)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var name = kind == "wrong-name" ? "other.example" : "mcp.contoso.com";
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(name);
        request.CertificateExtensions.Add(san.Build());
        var now = DateTimeOffset.UtcNow;
        if (kind == "self-signed") return request.CreateSelfSigned(now.AddDays(-1), now.AddDays(1));
        var (from, to) = kind == "expired" ? (now.AddDays(-10), now.AddDays(-1)) : (now.AddDays(-1), now.AddDays(1));
        using var signer = UpstreamCa.Certificate.GetECDsaPrivateKey()!;
        using var cert = request.Create(UpstreamCa.Certificate.SubjectName, X509SignatureGenerator.CreateForECDsa(signer), from, to, RandomNumberGenerator.GetBytes(12));
        return cert.CopyWithPrivateKey(key);
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _front.Stop();
        if (_acceptLoop is not null) await _acceptLoop;
        Task[] sessions;
        lock (_sessions) sessions = [.. _sessions];
        await Task.WhenAll(sessions).WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(_ => { });
        if (_upstream is not null) await _upstream.DisposeAsync();
        InterceptionCa.Dispose();
        UpstreamCa.Dispose();
        Directory.Delete(_dir, true);
    }
}

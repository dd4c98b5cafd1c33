using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Corral.Gateway.Hosting;
using Corral.Gateway.NameService;
using Corral.Gateway.Reload;
using Corral.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace Corral.Admin.Tests.Support;

/// <summary>
/// A real gateway (the shared <see cref="GatewayHarness"/>) and admin server on loopback: a policy file with a threat
/// feed, a hosts file naming stand-ins on the upstream's loopback address (which answers "ok"), loopback treated as public internet.
/// </summary>
public sealed class LiveHarness : IAsyncDisposable
{
    public const string Token = "test-admin-token-0123456789abcdef";

    /// <summary>deny-threats (feed), allow-web (www.example.test), deny-internet in watch mode.</summary>
    public const string PolicyText = """
        version: 1
        name: live-test
        defaultAction: deny
        smartGroups:
          agents: { cidrs: [127.0.0.0/8] }
        webGroups:
          web: { domains: [www.example.test] }
        threatGroups:
          threats: { feeds: [feeds/bad.txt] }
        rules:
          - { name: deny-threats, priority: 1, source: [agents], destination: [threats], action: deny }
          - { name: allow-web, priority: 2, source: [agents], webGroups: [web], action: permit }
          - { name: deny-internet, priority: 3, source: [agents], destination: [public-internet], action: deny, mode: watch }
        """;

    private readonly GatewayHarness _harness;

    public string Folder { get; }
    public string PolicyPath { get; }
    public string FeedPath { get; }
    public GatewayServer Gateway { get; }
    public PolicyReloader Reloader { get; }
    public AdminServer Admin { get; }
    public LoopbackUpstream Upstream { get; }
    public HttpClient Http { get; }

    private LiveHarness(GatewayHarness harness, PolicyReloader reloader, AdminServer admin, LoopbackUpstream upstream)
    {
        _harness = harness;
        Folder = harness.Folder;
        PolicyPath = harness.PolicyPath;
        FeedPath = Path.Combine(Folder, "feeds", "bad.txt");
        Gateway = harness.Server;
        Reloader = reloader;
        Admin = admin;
        Upstream = upstream;
        Http = new HttpClient { BaseAddress = admin.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
    }

    /// <param name="adminAddress">Where the admin server listens (loopback unless given; port chosen by the kernel).</param>
    /// <param name="adminHosts">Names the admin server accepts in Host besides its address.</param>
    /// <param name="dns">Also serve the resolver on loopback; its upstream (127.0.0.1:9) is never asked for the names tests refuse.</param>
    public static async Task<LiveHarness> StartAsync(string? policyText = null, bool withToken = true, bool watch = true, IPAddress? adminAddress = null,
        IReadOnlyList<string>? adminHosts = null, bool dns = false, bool flowLog = false)
    {
        var upstream = LoopbackUpstream.Answering("ok");
        var harness = GatewayHarness.Custom(policyText ?? PolicyText, $"{upstream.EndPoint.Address} www.example.test other.test evil.test\n",
            files: new Dictionary<string, string> { ["feeds/bad.txt"] = "# threat feed\nevil.test\n" }, policyFileName: "corral.yaml", flowLog: flowLog,
            dns: dns ? new DnsOptions { Listen = new IPEndPoint(IPAddress.Loopback, 0), Upstream = new IPEndPoint(IPAddress.Loopback, 9) } : null);
        var gateway = harness.Server;
        var reloader = new PolicyReloader(gateway, harness.PolicyPath, GatewayHarness.StandIns, NullLogger.Instance);
        if (watch) reloader.StartWatching();
        var admin = await AdminServer.StartAsync(gateway, reloader, new AdminOptions
        {
            Listen = new IPEndPoint(adminAddress ?? IPAddress.Loopback, 0),
            Token = withToken ? AdminToken.FromText(Token) : null,
            AllowedHosts = adminHosts ?? [],
        });
        return new LiveHarness(harness, reloader, admin, upstream);
    }

    public string Hash => Gateway.Policy.Current.Hash;

    /// <summary>The flow log file (written when started with <c>flowLog: true</c>).</summary>
    public string FlowLogPath => _harness.FlowLogPath;

    /// <summary>
    /// Several plain HTTP GETs for http://HOST:PORT/ on one kept-alive connection (the last asks to close); returns
    /// the statuses.
    /// </summary>
    public async Task<int[]> KeptAliveFlowAsync(string host, int requests)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(Gateway.ListenEndPoint!);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        var statuses = new int[requests];
        for (var i = 0; i < requests; i++)
        {
            var close = i == requests - 1 ? "Connection: close\r\n" : "";
            var request = $"GET http://{host}:{Upstream.Port}/{i} HTTP/1.1\r\nHost: {host}:{Upstream.Port}\r\n{close}\r\n";
            await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
            statuses[i] = await ReadResponseAsync(stream);
        }
        return statuses;
    }

    /// <summary>Reads one response framed by Content-Length, head and body; returns its status.</summary>
    private static async Task<int> ReadResponseAsync(Stream stream)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        var head = new StringBuilder();
        var one = new byte[1];
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
        {
            if (await stream.ReadAsync(one, cts.Token) == 0) return -1;
            head.Append((char)one[0]);
        }
        var lines = head.ToString().Split("\r\n");
        var length = lines.Skip(1).Select(l => l.Split(':', 2)).Where(p => p.Length == 2 && p[0].Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            .Select(p => int.Parse(p[1].Trim(), System.Globalization.CultureInfo.InvariantCulture)).FirstOrDefault();
        await stream.ReadExactlyAsync(new byte[length], cts.Token);
        var parts = lines[0].Split(' ');
        return parts.Length >= 2 && int.TryParse(parts[1], out var status) ? status : -1;
    }


    /// <summary>One new flow through the gateway: a plain HTTP GET for http://HOST:PORT/ on a fresh connection; returns the status.</summary>
    public async Task<int> FlowAsync(string host)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(Gateway.ListenEndPoint!);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        var request = $"GET http://{host}:{Upstream.Port}/ HTTP/1.1\r\nHost: {host}:{Upstream.Port}\r\nConnection: close\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        return await ReadStatusAsync(stream);
    }

    /// <summary>Reads a response's status line (and discards the rest of the head).</summary>
    public static async Task<int> ReadStatusAsync(Stream stream)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        var head = new StringBuilder();
        var one = new byte[1];
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
        {
            if (await stream.ReadAsync(one, cts.Token) == 0) break;
            head.Append((char)one[0]);
        }
        var line = head.ToString().Split("\r\n")[0];
        var parts = line.Split(' ');
        return parts.Length >= 2 && int.TryParse(parts[1], out var status) ? status : -1;
    }

    /// <summary>Polls until <paramref name="condition"/> holds (a file change is seen asynchronously), or fails after 10 s.</summary>
    public static async Task EventuallyAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"timed out waiting for: {what}");
            await Task.Delay(20);
        }
    }

    public HttpRequestMessage Authorized(HttpMethod method, string path, HttpContent? content = null, string? token = Token)
    {
        var request = new HttpRequestMessage(method, path) { Content = content };
        if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return request;
    }

    public async Task<JsonElement> GetJsonAsync(string path)
    {
        var text = await Http.GetStringAsync(path);
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await Admin.DisposeAsync();
        await Reloader.DisposeAsync();
        try { File.SetUnixFileMode(PolicyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite); } catch (IOException) { }
        await _harness.DisposeAsync();
        await Upstream.DisposeAsync();
    }
}

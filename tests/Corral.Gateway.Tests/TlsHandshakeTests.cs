using System.Net.Sockets;
using System.Text;
using Corral.Certificates;
using Corral.Gateway.Tests.Support;
using Corral.Testing;

namespace Corral.Gateway.Tests;

/// <summary>
/// A spliced TLS flow is decided on its first ClientHello; these prove that every later one the client sends in the
/// clear is held to it (HelloRetryRequest) or refused (renegotiation, an unasked-for second ClientHello, records out
/// of place), against a stand-in server that answers with hand-built records, over real sockets.
/// </summary>
public sealed class TlsHandshakeTests
{
    // tools.example.test is permitted on 443 and spliced (decrypt: not-allowed); other.example.test, on the same address, is not permitted.
    private const string Policy = """
        version: 1
        name: handshake-test
        defaultAction: deny
        smartGroups:
          agents: { cidrs: [127.0.0.0/8] }
        webGroups:
          tools: { domains: [tools.example.test] }
        rules:
          - { name: allow-tools, priority: 1, source: [agents], webGroups: [tools], action: permit, ports: [443], decrypt: not-allowed }
          - { name: default-deny-internet, priority: 2, source: [agents], destination: [public-internet], action: deny }
        """;

    private static readonly string[] Alpn = ["h2", "http/1.1"];

    private static GatewayHarness Gateway(TlsScriptServer server) =>
        GatewayHarness.Custom(Policy, $"{server.EndPoint.Address} tools.example.test other.example.test\n");

    private static async Task<NetworkStream> TunnelAsync(TcpClient tcp)
    {
        var stream = tcp.GetStream();
        await stream.WriteAsync("CONNECT tools.example.test:443 HTTP/1.1\r\nHost: tools.example.test:443\r\n\r\n"u8.ToArray());
        var (status, _, _) = await RawHttp.ReadResponseAsync(stream);
        Assert.Equal(200, status);
        return stream;
    }

    private static byte[] Hello(string sni, string[]? alpn = null, int ech = 0, int recordSize = 16384) =>
        ClientHelloBuilder.Records(ClientHelloBuilder.Handshake(sni, alpn: alpn ?? Alpn, ech: ech), recordSize);

    private static readonly byte[] ChangeCipherSpec = ClientHelloBuilder.Record(20, [1]);

    private static async Task<byte[]> ReadRecordAsync(Stream stream)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var header = new byte[5];
        await stream.ReadExactlyAsync(header, cts.Token);
        var payload = new byte[(header[3] << 8) | header[4]];
        await stream.ReadExactlyAsync(payload, cts.Token);
        return [.. header, .. payload];
    }

    private static async Task AssertRefusedAsync(GatewayHarness gw, NetworkStream stream, string reason)
    {
        var rest = await RawHttp.ReadToCloseAsync(stream, 10);
        Assert.True(rest.Length > 0 && rest[0] == 0x15, "expected a TLS alert and a close");
        var (_, close) = await gw.FlowAsync(r => r.TryGetProperty("host", out var host) && host.GetString() == "tools.example.test");
        Assert.Equal("tls-handshake", close.GetProperty("check").GetString());
        Assert.Contains(reason, close.GetProperty("reason").GetString());
    }

    [Theory]
    [InlineData("other-name", "names 'other.example.test'")]
    [InlineData("other-alpn", "ALPN")]
    [InlineData("adds-ech", "adds Encrypted Client Hello")]
    public async Task A_ClientHello_after_a_HelloRetryRequest_that_disagrees_with_the_first_is_refused_and_never_reaches_the_server(string change, string reason)
    {
        await using var server = TlsScriptServer.Start(443, "retry");
        await using var gw = Gateway(server);
        using var tcp = await gw.RawAsync();
        var stream = await TunnelAsync(tcp);

        await stream.WriteAsync(Hello("tools.example.test"));
        var retry = await ReadRecordAsync(stream);
        Assert.True(retry[0] == 0x16 && retry[5] == 2, "the HelloRetryRequest reaches the client");
        var second = change switch
        {
            "other-name" => Hello("other.example.test"),
            "other-alpn" => Hello("tools.example.test", alpn: ["http/1.1"]),
            _ => Hello("tools.example.test", ech: 64),
        };
        await stream.WriteAsync(ChangeCipherSpec.Concat(second).ToArray());

        await AssertRefusedAsync(gw, stream, reason);
        Assert.Equal(1, server.ClientHellos);
    }

    [Fact]
    public async Task A_ClientHello_after_a_HelloRetryRequest_that_agrees_is_passed_on_and_the_rest_is_spliced_both_ways()
    {
        await using var server = TlsScriptServer.Start(443, "retry");
        await using var gw = Gateway(server);
        using var tcp = await gw.RawAsync();
        var stream = await TunnelAsync(tcp);

        await stream.WriteAsync(Hello("tools.example.test"));
        await ReadRecordAsync(stream);
        // Split over small records, after a middlebox-compatibility ChangeCipherSpec: still one ClientHello.
        await stream.WriteAsync(ChangeCipherSpec.Concat(Hello("tools.example.test", recordSize: 40)).ToArray());
        var serverHello = await ReadRecordAsync(stream);
        var flight = await ReadRecordAsync(stream);
        await stream.WriteAsync(ClientHelloBuilder.Record(23, "client-finished"u8.ToArray()));
        await stream.WriteAsync(ClientHelloBuilder.Record(23, "application-data"u8.ToArray()));

        Assert.Equal(2, serverHello[5]);
        Assert.Equal("server-flight", Encoding.ASCII.GetString(flight.AsSpan(5)));
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (server.Records.Count(r => r[0] == 23) < 2 && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.Equal(2, server.ClientHellos);
        Assert.Contains(server.Records, r => Encoding.ASCII.GetString(r.AsSpan(5)) == "application-data");
    }

    [Theory]
    [InlineData("silent", "second-hello", "the server did not ask for")]
    [InlineData("tls12", "renegotiation", "renegotiation")]
    [InlineData("silent", "heartbeat", "record type 24")]
    [InlineData("tls12", "early-application-data", "application data")]
    public async Task Anything_else_the_client_sends_in_the_clear_before_its_keys_are_in_use_is_refused(string serverAnswer, string attempt, string reason)
    {
        await using var server = TlsScriptServer.Start(443, serverAnswer);
        await using var gw = Gateway(server);
        using var tcp = await gw.RawAsync();
        var stream = await TunnelAsync(tcp);

        await stream.WriteAsync(Hello("tools.example.test"));
        if (serverAnswer == "tls12") await ReadRecordAsync(stream);
        byte[] next = attempt switch
        {
            "second-hello" or "renegotiation" => Hello("other.example.test"),
            "heartbeat" => ClientHelloBuilder.Record(24, [1, 0, 3, 1, 2, 3]),
            _ => ClientHelloBuilder.Record(23, "GET / HTTP/1.1\r\n\r\n"u8.ToArray()),
        };
        await stream.WriteAsync(next);

        await AssertRefusedAsync(gw, stream, reason);
        Assert.Equal(1, server.ClientHellos);
        Assert.Single(server.Records);
    }

    // ---- Transparent mode: the same checks when the agent connects straight to the server's address ----

    [Theory]
    [InlineData("retry", "names 'other.example.test'")]
    [InlineData("tls12", "renegotiation")]
    public async Task In_transparent_mode_a_second_ClientHello_naming_another_server_is_refused_and_never_reaches_it(string serverAnswer, string reason)
    {
        NetworkNamespaces.SkipUnlessRootWith("ip", "iptables");
        await using var topology = new NetworkNamespaces();
        var k = Random.Shared.Next(1, 250);
        var id = $"{Environment.ProcessId % 10000}{k}";
        var (agentNs, vethRoot, vethAgent) = ($"crl-tls-{id}", $"crt{id}", $"cru{id}");
        await topology.AddAsync(agentNs);
        await topology.LinkAsync(agentNs, vethRoot, vethAgent, $"10.215.{k}.1/30", $"10.215.{k}.2/30", defaultVia: $"10.215.{k}.1");
        // The stand-in server's "internet" address lives on this host, so the gateway's dial to the original destination reaches it.
        var serverAddress = System.Net.IPAddress.Parse($"198.18.{k}.2");
        await topology.AddAddressAsync("lo", $"{serverAddress}/32");
        await using var server = TlsScriptServer.Start(443, serverAnswer, serverAddress);
        await using var gw = GatewayHarness.Custom(Policy.Replace("[127.0.0.0/8]", $"[127.0.0.0/8, 10.215.{k}.0/30]"),
            $"{serverAddress} tools.example.test other.example.test\n", transparent: true);
        await topology.AddRuleAsync("nat", "PREROUTING", "-i", vethRoot, "-p", "tcp", "-j", "REDIRECT", "--to-ports",
            gw.Server.TransparentEndPoint!.Port.ToString(System.Globalization.CultureInfo.InvariantCulture));

        // The agent, inside its namespace, connects to the server's own address; iptables hands the connection to the gateway.
        using var socket = new Corral.Lab.Namespaces.NetworkNamespace(agentNs).CreateTcpSocket();
        using var connect = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await socket.ConnectAsync(new System.Net.IPEndPoint(serverAddress, 443), connect.Token);
        await using var stream = new NetworkStream(socket, ownsSocket: false);

        await stream.WriteAsync(Hello("tools.example.test"));
        var answer = await ReadRecordAsync(stream);
        Assert.True(answer[0] == 0x16 && answer[5] == 2, "the server's answer to the permitted ClientHello reaches the agent");
        await stream.WriteAsync(serverAnswer == "retry" ? ChangeCipherSpec.Concat(Hello("other.example.test")).ToArray() : Hello("other.example.test"));

        await AssertRefusedAsync(gw, stream, reason);
        Assert.Equal(1, server.ClientHellos);
    }

    // ---- Encrypted Client Hello: the name a spliced flow was decided on may not be the one it asks for ----

    [Fact]
    public async Task A_ClientHello_with_Encrypted_Client_Hello_on_a_spliced_rule_is_refused_and_nothing_reaches_the_server()
    {
        await using var server = TlsScriptServer.Start(443, "silent");
        await using var gw = Gateway(server);
        using var tcp = await gw.RawAsync();
        var stream = await TunnelAsync(tcp);

        await stream.WriteAsync(Hello("tools.example.test", ech: 64));
        var rest = await RawHttp.ReadToCloseAsync(stream, 10);

        Assert.True(rest.Length > 0 && rest[0] == 0x15, "expected a TLS alert and a close");
        var (decision, _) = await gw.FlowAsync(r => r.TryGetProperty("host", out var host) && host.GetString() == "tools.example.test");
        Assert.Equal("encrypted-client-hello", decision.GetProperty("check").GetString());
        Assert.Empty(server.Records);
    }

    [Fact]
    public async Task With_tls_ech_intercept_an_Encrypted_Client_Hello_is_decrypted_by_the_gateway_instead_of_spliced()
    {
        using var ca = CertificateAuthority.Create(new CaOptions());
        await using var server = TlsScriptServer.Start(443, "silent");
        await using var gw = GatewayHarness.Custom(Policy + "\ntls: { ech: intercept }\n", $"{server.EndPoint.Address} tools.example.test\n",
            interception: new GatewayInterception(ca, null));
        using var tcp = await gw.RawAsync();
        var stream = await TunnelAsync(tcp);

        await stream.WriteAsync(Hello("tools.example.test", ech: 64));
        var first = await ReadRecordAsync(stream);

        // The gateway's own TLS server answers (a ServerHello or an alert), not the upstream.
        Assert.True(first[0] is 0x16 or 0x15);
        var (decision, _) = await gw.FlowAsync(r => r.TryGetProperty("host", out var host) && host.GetString() == "tools.example.test");
        Assert.True(decision.GetProperty("decrypt").GetBoolean());
        Assert.Empty(server.Records);
    }
}

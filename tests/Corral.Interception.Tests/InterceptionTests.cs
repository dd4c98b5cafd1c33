using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Corral.Interception.Tests;

/// <summary>Intercepted tool calls: minted certificates, per-request decisions, URL filters, fronting, smuggling, secrets, upstream verification.</summary>
public sealed class InterceptionTests : IAsyncLifetime
{
    private InterceptionFixture _f = null!;

    public async ValueTask InitializeAsync() => _f = await InterceptionFixture.StartAsync();

    public async ValueTask DisposeAsync() => await _f.DisposeAsync();

    [Fact]
    public async Task An_allowed_request_is_served_through_a_Corral_minted_certificate_and_logged_with_its_URL()
    {
        X509Certificate2? seen = null;
        using var client = _f.Client(c => seen = c);
        Assert.Equal("hi", await client.GetStringAsync("https://mcp.contoso.com/hello"));
        Assert.Equal(_f.InterceptionCa.Certificate.Subject, seen!.Issuer);
        Assert.Contains("mcp.contoso.com", seen.GetNameInfo(X509NameType.DnsName, false));
        var record = Assert.Single(_f.Records);
        Assert.Equal(("GET", "https://mcp.contoso.com/hello", true, 200), (record.Method, record.Url, record.Forwarded, record.Status));
        Assert.Equal("allow-tool-calls", record.Verdict.Rule?.Name);
    }

    [Fact]
    public async Task Kept_alive_requests_reuse_one_upstream_connection()
    {
        using var client = _f.Client();
        for (var i = 0; i < 5; i++) Assert.Equal("hi", await client.GetStringAsync("https://mcp.contoso.com/hello"));
        Assert.Equal(1, _f.UpstreamConnections);
        Assert.Equal(5, _f.Records.Count);
    }

    [Fact]
    public async Task URL_filters_decide_each_request_and_denied_requests_never_reach_the_upstream()
    {
        using var client = _f.Client();
        Assert.Equal("repo contoso/agent", await client.GetStringAsync("https://api.github.com/repos/contoso/agent"));
        var denied = await client.GetAsync("https://api.github.com/repos/attacker/loot");
        Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);
        Assert.Equal("default-deny-internet", denied.Headers.GetValues("X-Corral-Rule").Single());
        Assert.Contains("Do not retry", await denied.Content.ReadAsStringAsync());
        Assert.DoesNotContain(_f.UpstreamSaw, s => s.Contains("attacker"));
        var traversal = await _f.Client().GetAsync("https://api.github.com/repos/contoso/..%2F..%2Fattacker/loot");
        Assert.NotEqual(HttpStatusCode.OK, traversal.StatusCode);
        Assert.DoesNotContain(_f.UpstreamSaw, s => s.Contains("attacker"));
    }

    [Fact]
    public async Task Chunked_responses_are_relayed_intact()
    {
        using var client = _f.Client();
        Assert.Equal("part0;part1;part2;", await client.GetStringAsync("https://mcp.contoso.com/chunked"));
    }

    [Fact]
    public async Task A_Host_that_differs_from_the_SNI_is_domain_fronting_and_is_denied()
    {
        await using var tls = await _f.ConnectRawAsync("mcp.contoso.com");
        var response = await SendRawAsync(tls, "GET /hello HTTP/1.1\r\nHost: collector.attacker.example\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 403", response);
        Assert.Contains("domain fronting", response);
        Assert.Empty(_f.UpstreamSaw);
    }

    [Theory]
    [InlineData("POST /echo HTTP/1.1\r\nHost: mcp.contoso.com\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "400")]
    [InlineData("POST /echo HTTP/1.1\r\nHost: mcp.contoso.com\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", "400")]
    [InlineData("POST /echo HTTP/1.1\r\nHost: mcp.contoso.com\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "501")]
    [InlineData("GET /hello HTTP/1.1\r\nHost: mcp.contoso.com\r\nX-Folded: a\r\n b\r\n\r\n", "400")]
    [InlineData("GET /hello HTTP/1.1\nHost: mcp.contoso.com\n\n", "400")]
    [InlineData("GET /hello HTTP/1.1\r\nHost : mcp.contoso.com\r\n\r\n", "400")]
    [InlineData("GET /hello HTTP/1.1\r\nHost: mcp.contoso.com\r\nHost: mcp.contoso.com\r\n\r\n", "400")]
    [InlineData("GET /hello HTTP/1.1\r\nHost: mcp.contoso.com\r\nX: a\u0001b\r\n\r\n", "400")]
    [InlineData("GET /hello HTTP/2.0\r\nHost: mcp.contoso.com\r\n\r\n", "505")]
    public async Task Request_smuggling_shapes_are_refused_before_anything_is_forwarded(string raw, string status)
    {
        await using var tls = await _f.ConnectRawAsync("mcp.contoso.com");
        var response = await SendRawAsync(tls, raw);
        Assert.StartsWith($"HTTP/1.1 {status}", response);
        Assert.Empty(_f.UpstreamSaw);
        Assert.Contains(_f.Records, r => !r.Forwarded);
    }

    [Fact]
    public async Task An_oversized_head_is_refused()
    {
        await using var tls = await _f.ConnectRawAsync("mcp.contoso.com");
        var response = await SendRawAsync(tls, "GET /hello HTTP/1.1\r\nHost: mcp.contoso.com\r\nX-Big: " + new string('a', 40_000) + "\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 431", response);
    }

    [Fact]
    public async Task A_private_key_in_a_body_is_denied_by_name_and_never_forwarded()
    {
        using var client = _f.Client();
        var body = "{\"notes\": \"-----BEGIN RSA PRIVATE KEY-----\\nMIIEpAIBAAKCAQEA...\"}";
        var response = await client.PostAsync("https://mcp.contoso.com/echo", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        var record = Assert.Single(_f.Records);
        Assert.Equal("payload-inspection: the request carries private-key", record.DeniedBy);
        Assert.DoesNotContain("MIIE", record.DeniedBy);
        Assert.Empty(_f.UpstreamSaw);
        Assert.Equal(0, _f.UpstreamConnections);
    }

    [Fact]
    public async Task A_secret_deep_in_a_large_chunked_body_stops_the_request_before_it_completes()
    {
        using var client = _f.Client();
        var padding = new string('x', 3 * 1024 * 1024);
        var content = new StreamContent(new MemoryStream(Encoding.ASCII.GetBytes(padding + " aws_access_key_id=AKIAIOSFODNN7EXAMPLE " + padding)));
        var request = new HttpRequestMessage(HttpMethod.Post, "https://mcp.contoso.com/echo") { Content = content };
        request.Headers.TransferEncodingChunked = true;
        HttpResponseMessage? response = null;
        try { response = await client.SendAsync(request); }
        catch (HttpRequestException) { } // the connection may be closed while the client is still sending
        if (response is not null) Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains(_f.Records, r => r.DeniedBy == "payload-inspection: the request carries aws-access-key");
        await Task.Delay(500); // let the upstream notice the dropped connection
        Assert.Empty(_f.EchoCompleted); // the upstream never received a complete request
    }

    [Fact]
    public async Task Small_requests_without_secrets_pass_with_their_body()
    {
        using var client = _f.Client();
        var response = await client.PostAsync("https://mcp.contoso.com/echo", new StringContent("{\"query\": \"weather in Oslo\"}"));
        Assert.Equal("got 28", await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("expired")]
    [InlineData("self-signed")]
    [InlineData("wrong-name")]
    public async Task An_upstream_certificate_that_fails_verification_is_refused_not_re_signed(string kind)
    {
        _f.UpstreamCertificate = _f.BadUpstreamCertificate(kind);
        using var client = _f.Client();
        var response = await client.GetAsync("https://mcp.contoso.com/hello");
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        var record = Assert.Single(_f.Records);
        Assert.Contains("failed TLS verification", record.DeniedBy);
        Assert.Empty(_f.UpstreamSaw);
    }

    [Fact]
    public async Task The_client_is_offered_h2_and_http_1_1_and_one_offering_http_1_1_gets_it()
    {
        await using var tls = await _f.ConnectRawAsync("mcp.contoso.com");
        Assert.True(tls.NegotiatedApplicationProtocol == default || tls.NegotiatedApplicationProtocol == SslApplicationProtocol.Http11);
        await using var h1 = await ConnectWithAlpnAsync([SslApplicationProtocol.Http11]);
        Assert.Equal(SslApplicationProtocol.Http11, h1.NegotiatedApplicationProtocol);
        await using var h2 = await ConnectWithAlpnAsync([SslApplicationProtocol.Http2, SslApplicationProtocol.Http11]);
        Assert.Equal(SslApplicationProtocol.Http2, h2.NegotiatedApplicationProtocol); // Http2Tests: each stream a request through the same stages
    }

    private async Task<SslStream> ConnectWithAlpnAsync(List<SslApplicationProtocol> offered)
    {
        var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, _f.FrontPort);
        var stream = client.GetStream();
        await stream.WriteAsync("mcp.contoso.com\n"u8.ToArray());
        var tls = new SslStream(stream);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "mcp.contoso.com", ApplicationProtocols = offered,
            CertificateChainPolicy = InterceptionFixture.TrustOnly(_f.InterceptionCa.Certificate),
        });
        return tls;
    }

    private static async Task<string> SendRawAsync(Stream tls, string request)
    {
        await tls.WriteAsync(Encoding.Latin1.GetBytes(request));
        await tls.FlushAsync();
        using var reader = new StreamReader(tls, Encoding.Latin1);
        var text = new StringBuilder();
        var buffer = new char[4096];
        int n;
        try
        {
            while ((n = await reader.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(20))) > 0) text.Append(buffer, 0, n);
        }
        catch (IOException) { }
        return text.ToString();
    }
}

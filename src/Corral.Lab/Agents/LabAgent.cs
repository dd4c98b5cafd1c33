using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Corral.Lab.Agents;

/// <summary>How an attempt ended, as the agent saw it.</summary>
internal enum AttemptKind
{
    /// <summary>An HTTP response arrived (from the far end, or a 403 from the gateway inside a decrypted flow).</summary>
    Response,
    /// <summary>The explicit proxy refused the CONNECT.</summary>
    ProxyRefused,
    /// <summary>The transparent gateway answered the ClientHello with an access_denied alert.</summary>
    TlsRefused,
    /// <summary>The connection was closed before anything came back (how a transparent gateway refuses a non-TLS, non-HTTP stream).</summary>
    Closed,
    /// <summary>Anything else: a timeout, a certificate the agent rejected, an unreachable host.</summary>
    Failed,
}

/// <summary>One attempt's outcome: its kind, the HTTP status and body when there was a response, the error otherwise.</summary>
internal readonly record struct Attempt(AttemptKind Kind, int Status, string Body, string? Error)
{
    /// <summary>The gateway stopped it: a refused CONNECT or ClientHello, a close, or the gateway's own 403.</summary>
    public bool Refused => Kind is AttemptKind.ProxyRefused or AttemptKind.TlsRefused or AttemptKind.Closed || Kind == AttemptKind.Response && Status == 403;

    public bool Ok => Kind == AttemptKind.Response && Status == 200;

    public string Describe() => Kind switch
    {
        AttemptKind.ProxyRefused => $"CONNECT refused by the gateway ({Status})",
        AttemptKind.TlsRefused => "TLS refused by the gateway (access_denied alert)",
        AttemptKind.Closed => "connection closed by the gateway",
        AttemptKind.Failed => $"failed: {Error}",
        _ when Status == 403 => "403 from the gateway",
        _ => $"HTTP {Status}",
    };
}

/// <summary>
/// The compromised agent: an HTTP client that trusts the public roots and Corral's CA and pins Microsoft's platform
/// certificates the way the real runtime does. Subclasses say how it reaches the network: through the explicit proxy,
/// or straight at the destination from a namespace whose route leads through the gateway.
/// </summary>
internal abstract class LabAgent(LabPki pki)
{
    /// <summary>The certificate each TLS server name presented, last seen.</summary>
    public ConcurrentDictionary<string, X509Certificate2> SeenCertificates { get; } = new();

    public HttpClient Client()
    {
        var handler = new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.Zero,
            SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = Validate },
        };
        Configure(handler);
        return new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(20) };
    }

    /// <summary>Routes the client's connections: a proxy, or a connect callback.</summary>
    protected abstract void Configure(SocketsHttpHandler handler);

    /// <summary>Sends a request and classifies how it ended; never throws for network trouble.</summary>
    public async Task<Attempt> SendAsync(HttpMethod method, string url, string? body, string contentType, CancellationToken ct,
        params (string Name, string Value)[] headers)
    {
        using var http = Client();
        using var request = new HttpRequestMessage(method, url);
        foreach (var (name, value) in headers) request.Headers.TryAddWithoutValidation(name, value);
        if (body is not null) request.Content = new StringContent(body, Encoding.UTF8, contentType);
        try
        {
            using var response = await http.SendAsync(request, ct);
            return new Attempt(AttemptKind.Response, (int)response.StatusCode, await response.Content.ReadAsStringAsync(ct), null);
        }
        catch (HttpRequestException e) when (e.HttpRequestError == HttpRequestError.ProxyTunnelError)
        {
            // A refused CONNECT: HttpClient carries the proxy's status in the exception.
            return new Attempt(AttemptKind.ProxyRefused, e.StatusCode is { } s ? (int)s : e.Message.Contains("403") ? 403 : 0, "", e.Message);
        }
        catch (HttpRequestException e) when (IsAccessDeniedAlert(e))
        {
            return new Attempt(AttemptKind.TlsRefused, 0, "", Innermost(e));
        }
        catch (HttpRequestException e)
        {
            return new Attempt(AttemptKind.Failed, 0, "", Innermost(e));
        }
        catch (TaskCanceledException e) when (!ct.IsCancellationRequested)
        {
            return new Attempt(AttemptKind.Failed, 0, "", $"timed out ({e.Message})");
        }
    }

    /// <summary>Opens a TCP connection (the spoke database), sends the payload and says how the gateway answered.</summary>
    public abstract Task<Attempt> SendRawAsync(IPEndPoint destination, byte[] payload, CancellationToken ct);

    /// <summary>
    /// Opens TLS with server name <paramref name="serverName"/> for a hand-made request: to that name, or to the address
    /// <paramref name="at"/> when given. Null, with the refusal, when the gateway stops it before TLS is up.
    /// </summary>
    public abstract Task<(Stream? Stream, Attempt Refusal)> OpenTlsAsync(string serverName, IPAddress? at, RemoteCertificateValidationCallback validate, CancellationToken ct);

    private bool Validate(object sender, X509Certificate? certificate, X509Chain? _, SslPolicyErrors errors)
    {
        if (certificate is null) return false;
        var host = ((SslStream)sender).TargetHostName;
        var presented = new X509Certificate2(certificate);
        SeenCertificates[host] = presented;
        if (pki.Pins.TryGetValue(host, out var pin)) return presented.Thumbprint == pin;
        if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0) return false;
        using var chain = new X509Chain { ChainPolicy = { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck } };
        chain.ChainPolicy.CustomTrustStore.Add(pki.InterceptionCa.Certificate);
        chain.ChainPolicy.CustomTrustStore.Add(pki.PublicCa.Certificate);
        return chain.Build(presented);
    }

    /// <summary>Whether a TLS failure was the peer's access_denied alert (OpenSSL: "tlsv1 alert access denied").</summary>
    protected static bool IsAccessDeniedAlert(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
            if (x.Message.Contains("alert access denied", StringComparison.OrdinalIgnoreCase)) return true;
        return false;
    }

    protected static string Innermost(Exception e)
    {
        while (e.InnerException is not null) e = e.InnerException;
        return e.Message;
    }
}

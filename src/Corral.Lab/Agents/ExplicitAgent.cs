using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;

namespace Corral.Lab.Agents;

/// <summary>The agent with HTTPS_PROXY set: every connection is a CONNECT (or a proxied request) to the gateway.</summary>
internal sealed class ExplicitAgent(IPEndPoint proxy, LabPki pki) : LabAgent(pki)
{
    protected override void Configure(SocketsHttpHandler handler)
    {
        handler.Proxy = new WebProxy($"http://{proxy}");
        handler.UseProxy = true;
    }

    public override async Task<Attempt> SendRawAsync(IPEndPoint destination, byte[] payload, CancellationToken ct)
    {
        var (client, status, head) = await ConnectAsync(destination.ToString(), ct);
        using (client)
        {
            if (status != 200) return new Attempt(AttemptKind.ProxyRefused, status, "", head.Split("\r\n")[0]);
            var stream = client.GetStream();
            await stream.WriteAsync(payload, ct);
            return new Attempt(AttemptKind.Response, 200, "", "CONNECT answered 200: the tunnel opened");
        }
    }

    public override async Task<(Stream? Stream, Attempt Refusal)> OpenTlsAsync(string serverName, IPAddress? at, RemoteCertificateValidationCallback validate, CancellationToken ct)
    {
        var (client, status, head) = await ConnectAsync($"{at?.ToString() ?? serverName}:{LabHosts.HttpsPort}", ct);
        if (status != 200)
        {
            client.Dispose();
            return (null, new Attempt(AttemptKind.ProxyRefused, status, "", head.Split("\r\n")[0]));
        }
        var tls = new SslStream(client.GetStream(), leaveInnerStreamOpen: false);
        try
        {
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = serverName, RemoteCertificateValidationCallback = validate }, ct);
            return (tls, default);
        }
        catch (Exception e) when (e is IOException or System.Security.Authentication.AuthenticationException)
        {
            await tls.DisposeAsync();
            client.Dispose();
            return (null, new Attempt(IsAccessDeniedAlert(e) ? AttemptKind.TlsRefused : AttemptKind.Failed, 0, "", Innermost(e)));
        }
    }

    /// <summary>Opens a raw CONNECT tunnel; returns the connection, the proxy's status code and its response head.</summary>
    private async Task<(TcpClient Client, int Status, string Head)> ConnectAsync(string authority, CancellationToken ct)
    {
        var client = new TcpClient();
        try
        {
            await client.ConnectAsync(proxy, ct);
            var stream = client.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n"), ct);
            var buffer = new byte[4096];
            var n = await stream.ReadAsync(buffer, ct).AsTask().WaitAsync(TimeSpan.FromSeconds(20), ct);
            var head = Encoding.ASCII.GetString(buffer, 0, n);
            var status = head.Length >= 12 && int.TryParse(head.AsSpan(9, 3), out var s) ? s : 0;
            return (client, status, head);
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }
}

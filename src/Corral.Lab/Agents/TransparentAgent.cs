using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using Corral.Lab.Namespaces;

namespace Corral.Lab.Agents;

/// <summary>
/// The agent as a workload without proxy settings: it resolves names with the lab's DNS and connects straight to the
/// address, with the name in the TLS SNI and the HTTP Host — from inside its own network namespace, whose only way
/// out is the route through the gateway. It never addresses the gateway; what it sees of it is what a transparent
/// deployment sees: a TLS alert, a closed connection, or the gateway's 403 inside a decrypted flow.
/// </summary>
internal sealed class TransparentAgent(NetworkNamespace agentNamespace, LabNetwork network, LabPki pki) : LabAgent(pki)
{
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(10);

    protected override void Configure(SocketsHttpHandler handler)
    {
        handler.UseProxy = false;
        handler.ConnectCallback = async (context, ct) =>
        {
            var host = context.DnsEndPoint.Host;
            var address = network.Resolve(host) ?? throw new HttpRequestException($"the lab's DNS has no address for {host}");
            return new NetworkStream(await ConnectAsync(new IPEndPoint(address, context.DnsEndPoint.Port), ct), ownsSocket: true);
        };
    }

    public override async Task<Attempt> SendRawAsync(IPEndPoint destination, byte[] payload, CancellationToken ct)
    {
        Socket socket;
        try { socket = await ConnectAsync(destination, ct); }
        catch (SocketException e) { return new Attempt(AttemptKind.Failed, 0, "", e.Message); }
        using (socket)
        {
            try
            {
                await socket.SendAsync(payload, ct);
                // The database stand-in never answers or closes: only the gateway ends this connection.
                var n = await socket.ReceiveAsync(new byte[512], ct).AsTask().WaitAsync(TimeSpan.FromSeconds(5), ct);
                return n == 0 ? new Attempt(AttemptKind.Closed, 0, "", null) : new Attempt(AttemptKind.Response, 0, "", $"{n} bytes came back");
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.Shutdown)
            {
                return new Attempt(AttemptKind.Closed, 0, "", e.Message);
            }
            catch (TimeoutException)
            {
                return new Attempt(AttemptKind.Response, 0, "", "the connection stayed open");
            }
        }
    }

    public override async Task<(Stream? Stream, Attempt Refusal)> OpenTlsAsync(string serverName, IPAddress? at, RemoteCertificateValidationCallback validate, CancellationToken ct)
    {
        var address = at ?? network.Resolve(serverName) ?? throw new InvalidOperationException($"the lab's DNS has no address for {serverName}");
        Socket socket;
        try { socket = await ConnectAsync(new IPEndPoint(address, LabHosts.HttpsPort), ct); }
        catch (SocketException e) { return (null, new Attempt(AttemptKind.Failed, 0, "", e.Message)); }
        var tls = new SslStream(new NetworkStream(socket, ownsSocket: true), leaveInnerStreamOpen: false);
        try
        {
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = serverName, RemoteCertificateValidationCallback = validate }, ct);
            return (tls, default);
        }
        catch (Exception e) when (e is IOException or System.Security.Authentication.AuthenticationException)
        {
            await tls.DisposeAsync();
            return (null, new Attempt(IsAccessDeniedAlert(e) ? AttemptKind.TlsRefused : AttemptKind.Failed, 0, "", Innermost(e)));
        }
    }

    /// <summary>A TCP connection from inside the agent's namespace.</summary>
    private async Task<Socket> ConnectAsync(IPEndPoint destination, CancellationToken ct)
    {
        var socket = agentNamespace.CreateTcpSocket(destination.AddressFamily);
        try
        {
            socket.NoDelay = true;
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(ConnectTimeout);
            await socket.ConnectAsync(destination, timeout.Token);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}

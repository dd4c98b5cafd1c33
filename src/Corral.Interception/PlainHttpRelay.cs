using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Corral.Policy.Inspection;

namespace Corral.Interception;

/// <summary>
/// Carries cleartext HTTP/1.1 flows (the explicit proxy's plain HTTP, HTTP inside a CONNECT tunnel, transparent
/// port-80 flows) through the one <see cref="RequestPipeline"/>, with plain TCP upstream connections pooled per
/// (name, dialled address) as decrypted flows' TLS connections are. Dispose it to close the idle ones.
/// </summary>
public sealed class PlainHttpRelay(InterceptionOptions options) : IDisposable
{
    private readonly UpstreamPool _pool = new(options.MaxIdleUpstreamsPerKey, options.MaxIdleUpstreams, options.UpstreamIdleTimeout);
    private readonly RequestPipeline _pipeline = new(options);

    /// <summary>Relays requests from <paramref name="clientReader"/> (the request head may still be in it, unread) until the
    /// connection is done or, in proxy mode, the next request names another destination (left unread, its head handed back parsed).</summary>
    /// <param name="destination">The address the verdict chose; <paramref name="dial"/> connects to it and owns the socket.</param>
    /// <param name="first">The first request's head, already parsed by the gateway to decide the flow (null: read here).</param>
    public Task<RelayResult> RunAsync(Stream client, PipeReader clientReader, RelayTarget target, IPEndPoint destination, Func<CancellationToken, Task<Stream>> dial,
        IRequestGate gate, PayloadInspector inspector, ParsedRequest? first, CancellationToken ct, CancellationToken stopWaiting = default)
    {
        var upstreams = new Upstreams(_pool, new UpstreamKey(target.Name, destination), async token =>
        {
            var stream = await dial(token);
            return new UpstreamConnection(stream, (stream as NetworkStream)?.Socket);
        });
        return _pipeline.RunAsync(client, clientReader, target, upstreams, gate, inspector, first, ct, stopWaiting);
    }

    public void Dispose() => _pool.Dispose();
}

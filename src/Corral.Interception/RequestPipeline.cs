using System.IO.Pipelines;
using Corral.Policy.Inspection;

namespace Corral.Interception;

/// <summary>The upstream side of one flow: a connection kept for this client, lent from a pool, or opened.</summary>
internal sealed class Upstreams(UpstreamPool pool, UpstreamKey key, Func<CancellationToken, Task<UpstreamConnection>> connect)
{
    public UpstreamConnection? Current { get; set; }
    public UpstreamConnection? TryRent() => pool.TryRent(key);
    public Task<UpstreamConnection> ConnectAsync(CancellationToken ct) => connect(ct);

    /// <summary>A connection left clean goes back to the pool; anything else is closed.</summary>
    public void Release()
    {
        if (Current is not null) pool.Return(key, Current);
        Current = null;
    }
}

/// <summary>The upstream failed TLS verification.</summary>
internal sealed class UpstreamCertificateException(string message) : Exception(message);

/// <summary>
/// The one per-request pipeline, for every cleartext HTTP/1.1 request the gateway carries: plain HTTP through the
/// explicit proxy, HTTP inside a CONNECT tunnel, transparent port-80 flows and decrypted TLS. It waits for each
/// request of a connection and runs it through the <see cref="RequestStages"/>: parsed strictly, names agreed with the
/// flow's destination, decided on its own path by the flow's gate, head and body inspected, MCP calls decided, and only
/// then forwarded as a head rebuilt from what was parsed. A request it cannot parse is refused, never passed on.
/// </summary>
internal sealed class RequestPipeline(InterceptionOptions options)
{
    /// <param name="first">The connection's first request head when the gateway already parsed it (to decide the flow), else null.</param>
    /// <param name="stopWaiting">Cancelled when the gateway stops: a connection waiting for its next request closes then.</param>
    public async Task<RelayResult> RunAsync(Stream client, PipeReader clientReader, RelayTarget target, Upstreams upstreams, IRequestGate gate,
        PayloadInspector inspector, ParsedRequest? first, CancellationToken ct, CancellationToken stopWaiting)
    {
        var stages = new RequestStages(options, client, clientReader, target, upstreams, gate, inspector);
        try
        {
            while (!ct.IsCancellationRequested)
            {
                // Between requests: wait at most the idle timeout, and not at all once the gateway is stopping. A request
                // already buffered (the first one, which the gateway peeked at) needs no timer.
                var hasBuffered = false;
                if (clientReader.TryRead(out var buffered))
                {
                    clientReader.AdvanceTo(buffered.Buffer.Start);
                    if (buffered.Buffer.IsEmpty && buffered.IsCompleted) return new(RelayEnd.Closed);
                    hasBuffered = !buffered.Buffer.IsEmpty;
                }
                if (!hasBuffered)
                {
                    using var waiting = CancellationTokenSource.CreateLinkedTokenSource(ct, stopWaiting);
                    waiting.CancelAfter(options.IdleTimeout);
                    try
                    {
                        var result = await clientReader.ReadAsync(waiting.Token);
                        clientReader.AdvanceTo(result.Buffer.Start);
                        if (result.IsCompleted && result.Buffer.IsEmpty) return new(RelayEnd.Closed);
                    }
                    catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                    {
                        return new(RelayEnd.Closed);
                    }
                }
                var end = await stages.RelayOneAsync(first, ct);
                first = null;
                if (end is not null) return end.Value;
            }
            return new(RelayEnd.Closed);
        }
        finally
        {
            // A connection whose last response was read to its end, with neither side asking to close, is lent on;
            // anything else (mid-request, an error, Connection: close) is closed.
            upstreams.Release();
        }
    }
}

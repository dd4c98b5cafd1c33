using System.Net;
using System.Net.Sockets;

namespace Corral.Gateway.Proxy;

/// <summary>Opens the upstream connection to the one address the verdict chose, within the connect timeout.</summary>
internal static class Dialer
{
    /// <param name="resumeOnPool">Continue on a thread-pool thread when the connect completes on a socket event thread
    /// (inline completions, see <see cref="ResumingNetworkStream"/>): true for callers that parse or decrypt next.</param>
    public static Task<Socket> ConnectAsync(IPEndPoint endpoint, TimeSpan timeout, Func<IPEndPoint, bool>? guard, CancellationToken ct, bool resumeOnPool) =>
        Observability.FlowTracing.Enabled
            ? Observability.FlowTracing.TraceDialAsync(endpoint, () => DialAsync(endpoint, timeout, guard, ct, resumeOnPool))
            : DialAsync(endpoint, timeout, guard, ct, resumeOnPool);

    private static async Task<Socket> DialAsync(IPEndPoint endpoint, TimeSpan timeout, Func<IPEndPoint, bool>? guard, CancellationToken ct, bool resumeOnPool)
    {
        if (guard is not null && !guard(endpoint)) throw new SocketException((int)SocketError.AccessDenied);
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var timer = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timer.CancelAfter(timeout);
        try
        {
            await socket.ConnectAsync(endpoint, timer.Token).ConfigureAwait(false);
            if (resumeOnPool) await ResumingNetworkStream.ToPool();
            return socket;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            socket.Dispose();
            if (resumeOnPool) await ResumingNetworkStream.ToPool(); // the caller's error path (502, record) runs on the pool
            throw new TimeoutException($"connecting to {endpoint} took longer than {timeout.TotalSeconds:0.#} s");
        }
        catch (Exception e)
        {
            socket.Dispose();
            if (resumeOnPool) await ResumingNetworkStream.ToPool();
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e);
            throw;
        }
    }
}

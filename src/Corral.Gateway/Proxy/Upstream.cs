using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;

namespace Corral.Gateway.Proxy;

/// <summary>An upstream connection for plain HTTP, kept while a client's requests keep going to the same address and port.</summary>
internal sealed class Upstream : IAsyncDisposable
{
    private Upstream(Socket socket, IPEndPoint endpoint)
    {
        Socket = socket;
        EndPoint = endpoint;
        Stream = new ResumingNetworkStream(socket, ownsSocket: true); // forwarding never holds a socket event thread
        Reader = PipeReader.Create(Stream, new StreamPipeReaderOptions(bufferSize: 16 * 1024, leaveOpen: true));
    }

    public Socket Socket { get; }
    public IPEndPoint EndPoint { get; }
    public NetworkStream Stream { get; }
    public PipeReader Reader { get; }

    public static async Task<Upstream> ConnectAsync(IPEndPoint endpoint, TimeSpan timeout, Func<IPEndPoint, bool>? guard, CancellationToken ct) =>
        new(await Dialer.ConnectAsync(endpoint, timeout, guard, ct, resumeOnPool: true).ConfigureAwait(false), endpoint);

    public async ValueTask DisposeAsync()
    {
        await Reader.CompleteAsync().ConfigureAwait(false);
        await Stream.DisposeAsync().ConfigureAwait(false);
    }
}

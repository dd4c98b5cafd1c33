using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Corral.Policy.Addressing;

namespace Corral.Gateway.Proxy;

/// <summary>One accepted client: its socket, a pipe over what it sends (so prefixes can be peeked), and where it came from. Its flows' records are written by <see cref="FlowSession"/>.</summary>
internal sealed class ClientConnection : IAsyncDisposable
{
    private readonly ResumingNetworkStream _stream;

    public ClientConnection(Socket socket, string listener, GatewayContext context)
    {
        Socket = socket;
        Listener = listener;
        Context = context;
        var remote = (IPEndPoint)socket.RemoteEndPoint!;
        Source = new IPEndPoint(IpBits.Canonical(remote.Address), remote.Port);
        _stream = new ResumingNetworkStream(socket, ownsSocket: false); // parsing never holds a socket event thread
        Reader = PipeReader.Create(_stream, new StreamPipeReaderOptions(bufferSize: 16 * 1024, minimumReadSize: 4096, leaveOpen: true));
    }

    public Socket Socket { get; }
    public PipeReader Reader { get; }
    public Stream Stream => _stream;

    /// <summary>See <see cref="ResumingNetworkStream.ResumeReadsOnPool"/>: off only while the stream's first bytes are sniffed.</summary>
    public bool ReadsResumeOnPool
    {
        get => _stream.ResumeReadsOnPool;
        set => _stream.ResumeReadsOnPool = value;
    }
    public IPEndPoint Source { get; }
    public string Listener { get; }
    public GatewayContext Context { get; }

    public async ValueTask SendAsync(ReadOnlyMemory<byte> bytes, CancellationToken ct) =>
        await _stream.WriteAsync(bytes, ct).ConfigureAwait(false);

    public async ValueTask DisposeAsync()
    {
        await Reader.CompleteAsync().ConfigureAwait(false);
        await _stream.DisposeAsync().ConfigureAwait(false);
        try { Socket.Shutdown(SocketShutdown.Both); } catch (SocketException) { } catch (ObjectDisposedException) { }
        Socket.Dispose();
    }
}

using System.IO.Pipelines;
using System.Net;
using System.Threading.Channels;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;

namespace Corral.Interception.Http2;

/// <summary>
/// Kestrel's transport for decrypted connections: Kestrel listens on nothing. The interceptor terminates the client's
/// TLS, and a connection that chose h2 in ALPN is handed in here (<see cref="Offer"/>), where Kestrel's HTTP/2 server
/// accepts it as if from a socket. The endpoint Kestrel binds is a name only.
/// </summary>
internal sealed class DecryptedTransport : IConnectionListenerFactory, IConnectionListener
{
    private readonly Channel<ConnectionContext> _offered = Channel.CreateUnbounded<ConnectionContext>(new UnboundedChannelOptions { SingleReader = true });

    /// <summary>The name Kestrel is told it listens on.</summary>
    public static readonly EndPoint Endpoint = new DnsEndPoint("decrypted.corral.invalid", 443);

    public EndPoint EndPoint => Endpoint;

    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default) => ValueTask.FromResult<IConnectionListener>(this);

    /// <summary>Hands one decrypted connection to Kestrel; false once the server has stopped.</summary>
    public bool Offer(DecryptedConnection connection) => _offered.Writer.TryWrite(connection);

    public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            return await _offered.Reader.ReadAsync(cancellationToken);
        }
        catch (ChannelClosedException)
        {
            return null; // unbound: Kestrel's accept loop ends
        }
    }

    public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
    {
        _offered.Writer.TryComplete();
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync()
    {
        _offered.Writer.TryComplete();
        return ValueTask.CompletedTask;
    }
}

/// <summary>
/// One decrypted client connection as Kestrel sees it: the TLS stream as a duplex pipe, and the flow whose requests it
/// carries. <see cref="Ended"/> completes when Kestrel is done with it.
/// </summary>
internal sealed class DecryptedConnection : ConnectionContext
{
    private readonly Stream _stream;
    private readonly CancellationTokenSource _closed = new();
    private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly PipeReader _input;
    private readonly PipeWriter _output;

    public DecryptedConnection(Stream stream, Http2Flow flow)
    {
        _stream = stream;
        Flow = flow;
        _input = PipeReader.Create(stream, new StreamPipeReaderOptions(leaveOpen: true));
        _output = PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true));
        Transport = new DuplexPipe(_input, _output);
        ConnectionClosed = _closed.Token;
    }

    public Http2Flow Flow { get; }

    /// <summary>Completes when Kestrel has disposed the connection (every stream done).</summary>
    public Task Ended => _ended.Task;

    public override string ConnectionId { get; set; } = "h2-" + Guid.NewGuid().ToString("N");
    public override IFeatureCollection Features { get; } = new FeatureCollection();
    public override IDictionary<object, object?> Items { get; set; } = new Dictionary<object, object?>();
    public override IDuplexPipe Transport { get; set; }

    public override void Abort(ConnectionAbortedException abortReason)
    {
        // Closing the stream ends the pending read, which Kestrel sees as the client going away.
        try { _closed.Cancel(); } catch (ObjectDisposedException) { }
        _input.CancelPendingRead();
        _stream.Dispose();
    }

    public override async ValueTask DisposeAsync()
    {
        await _input.CompleteAsync();
        await _output.CompleteAsync();
        _closed.Dispose();
        _ended.TrySetResult();
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;
        public PipeWriter Output { get; } = output;
    }
}

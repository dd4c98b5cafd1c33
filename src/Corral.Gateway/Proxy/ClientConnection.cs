using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Corral.Gateway.FlowLog;
using Corral.Policy.Addressing;
using Corral.Policy.Compilation;
using Microsoft.Extensions.Logging;

namespace Corral.Gateway.Proxy;

/// <summary>One accepted client: its socket, a pipe over what it sends (so prefixes can be peeked), and where it came from.</summary>
internal sealed class ClientConnection : IAsyncDisposable
{
    private readonly NetworkStream _stream;

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
    public IPEndPoint Source { get; }
    public string Listener { get; }
    public GatewayContext Context { get; }

    public async ValueTask SendAsync(ReadOnlyMemory<byte> bytes, CancellationToken ct) =>
        await _stream.WriteAsync(bytes, ct).ConfigureAwait(false);

    /// <summary>Records a decision (before any byte goes upstream) and counts it.</summary>
    public void LogDecision(string flowId, in Flow flow, Verdict? verdict, IPEndPoint? destination, string? method, string? url, string? refusal, bool decrypted = false)
    {
        var letsThrough = refusal is null && verdict is { LetsThrough: true };
        Context.Flows.Add(1, new KeyValuePair<string, object?>("rule", refusal is not null ? "(refused)" : verdict?.Rule?.Name ?? "(default)"),
            new KeyValuePair<string, object?>("action", refusal is not null || verdict is not { Action: Policy.Model.RuleAction.Permit } ? "deny" : "permit"),
            new KeyValuePair<string, object?>("enforced", refusal is not null || verdict is not { Enforced: false } ? "true" : "false"));
        if (!letsThrough) Context.Denied.Add(1);
        Context.FlowLog.Write(new FlowRecord
        {
            Event = FlowEvent.Decision, Time = DateTimeOffset.UtcNow, FlowId = flowId, Listener = Listener, Source = Source,
            Destination = destination, Host = flow.Host, Method = method, Url = url, Verdict = verdict, Refusal = refusal, Decrypted = decrypted, Facts = flow,
        });
    }

    /// <summary>Records one request seen inside a decrypted flow, with its own verdict.</summary>
    /// <param name="flow">The facts of the flow's decision; the record carries them with this request's path and the address dialled.</param>
    public void LogRequest(string flowId, IPEndPoint destination, in Flow flow, Interception.InspectedRequest request)
    {
        var host = flow.Host;
        if (!request.Forwarded) Context.Denied.Add(1);
        Context.FlowLog.Write(new FlowRecord
        {
            Event = FlowEvent.Request, Time = DateTimeOffset.UtcNow, FlowId = flowId, Listener = Listener, Source = Source,
            Destination = destination, Host = host, Method = request.Method, Url = request.Url,
            // A request refused before its path was decided carries default(Verdict): RuleMatched with no rule, which no decision gives.
            Verdict = request.Verdict is { Rule: null, Reason: DecisionReason.RuleMatched } ? null : request.Verdict,
            Refusal = request.Forwarded ? null : request.DeniedBy, Decrypted = true, Status = request.Status,
            BytesUp = request.BytesUp, BytesDown = request.BytesDown, Facts = RequestFacts(flow, destination, request.Url),
        });
    }

    // What FlowDecider.DecideRequest decided on: the flow's facts, the address dialled and the path (the URL is the
    // host followed by the normalized path when the request got as far as a verdict; otherwise no path is known).
    private static Flow RequestFacts(in Flow flow, IPEndPoint destination, string url) => flow with
    {
        Destinations = [destination.Address],
        Path = flow.Host is { } host && url.Length > host.Length && url.StartsWith(host, StringComparison.Ordinal) && url[host.Length] == '/'
            && UrlPath.TryNormalize(url[host.Length..], out var path, out _) ? path : null,
    };

    /// <summary>Records a refusal of input the gateway could not make sense of, in both logs, with no verdict.</summary>
    public void LogRefusal(string what, IPEndPoint? destination = null, string? host = null)
    {
        Context.Logger.LogWarning("{Listener} client {Source}: {What}; refused", Listener, Source, what);
        var id = Context.NewFlowId();
        LogDecision(id, new Flow { Source = Source.Address, Host = host }, null, destination, null, null, what);
        LogClose(id, destination, host, 0, 0, 0, what);
    }

    public void LogClose(string flowId, IPEndPoint? destination, string? host, long up, long down, double durationMs, string? note = null)
    {
        if (up > 0) Context.BytesUp.Add(up);
        if (down > 0) Context.BytesDown.Add(down);
        Context.FlowLog.Write(new FlowRecord
        {
            Event = FlowEvent.Close, Time = DateTimeOffset.UtcNow, FlowId = flowId, Listener = Listener, Source = Source,
            Destination = destination, Host = host, BytesUp = up, BytesDown = down, DurationMs = durationMs, Refusal = note,
        });
    }

    public async ValueTask DisposeAsync()
    {
        await Reader.CompleteAsync().ConfigureAwait(false);
        await _stream.DisposeAsync().ConfigureAwait(false);
        try { Socket.Shutdown(SocketShutdown.Both); } catch (SocketException) { } catch (ObjectDisposedException) { }
        Socket.Dispose();
    }
}

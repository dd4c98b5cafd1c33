using System.IO.Pipelines;
using System.Text;
using Corral.Interception.Http;
using Corral.Interception.Mcp;
using Corral.Policy.Compilation;
using Corral.Policy.Inspection;

namespace Corral.Interception.WebSockets;

/// <summary>What moved over one WebSocket and how it ended: data messages and their payload bytes each way, and the close.</summary>
/// <param name="CloseCode">The first close code sent (1006 when the connection ended without a close, 1005 for a close without a code).</param>
/// <param name="ClosedBy">Who closed first: client, server or gateway (a refusal); connection when one side just went away.</param>
public sealed record WebSocketSummary(long MessagesUp, long MessagesDown, long BytesUp, long BytesDown, int CloseCode, string ClosedBy);

/// <summary>How a relayed WebSocket ended: its summary, and the refusal when the gateway closed it.</summary>
internal sealed record WebSocketOutcome(WebSocketSummary Summary, RequestRefused? Refused, McpExchange? Mcp);

/// <summary>What the relay decides client messages by.</summary>
/// <param name="Inspector">The payload inspector when the request is inspected (an enforced verdict), else null.</param>
/// <param name="Mcp">The rule's MCP section: each text message is a JSON-RPC message decided like MCP over HTTP.</param>
/// <param name="SecretFound">Turns a pattern found into the refusal (payload inspection, or a credential's placeholder).</param>
internal sealed record WebSocketRules(PayloadInspector? Inspector, CompiledMcpRules? Mcp, bool Enforced, string Rule, int MessageBound, int ServerFrameBound,
    string Authority, Func<string, RequestRefused> SecretFound);

/// <summary>
/// Carries one upgraded connection, frame by frame, after the gateway saw the server accept it. Client messages are
/// reassembled (within the rule's bound) and each whole message is validated, inspected (alone, and as part of the
/// connection's stream, so a secret split across messages is found too) and, on an MCP rule, decided as JSON-RPC,
/// before it is sent upstream as a frame the gateway builds. Control frames' payloads are inspected as a stream of their
/// own. Server frames are validated and relayed, not inspected. Anything refused closes both sides (1008 for a policy
/// refusal, the RFC's code for a broken frame) and nothing of the refused message goes upstream.
/// </summary>
internal sealed class WebSocketRelay(PipeReader clientReader, Stream client, PipeReader upstreamReader, Stream upstream, WebSocketRules rules, IRequestGate gate)
{
    private static readonly TimeSpan CloseWait = TimeSpan.FromSeconds(5);
    private readonly SemaphoreSlim _toClient = new(1, 1), _toUpstream = new(1, 1);
    private readonly PayloadInspector.StreamScan? _dataScan = rules.Inspector?.StartStream();
    private readonly PayloadInspector.StreamScan? _controlScan = rules.Inspector?.StartStream();
    private readonly Lock _endLock = new();
    private long _messagesUp, _messagesDown, _bytesUp, _bytesDown;
    private bool _clientCloseSent, _upstreamCloseSent, _clientClosed, _serverClosed;
    private int _closeCode = WebSocketFrames.Abnormal;
    private string? _closedBy;
    private RequestRefused? _refused;
    private McpExchange? _mcp;
    private readonly HashSet<string> _listRequestIds = [];
    private readonly List<string> _toolsChanged = [];

    /// <summary>A message refused by policy or a frame refused as malformed: both sides are closed with <see cref="Code"/>.</summary>
    private sealed class RefusedException(RequestRefused refused, ushort code) : Exception(refused.Refusal.Reason)
    {
        public RequestRefused Refused { get; } = refused;
        public ushort Code { get; } = code;
    }

    public async Task<WebSocketOutcome> RunAsync(CancellationToken ct)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var up = GuardAsync(UpAsync(stop.Token), fromClient: true);
        var down = GuardAsync(DownAsync(stop.Token), fromClient: false);
        var first = await Task.WhenAny(up, down);
        // A side that closed cleanly leaves the other a short while to answer its close; anything else ends both now.
        var cleanly = _refused is null && (first == up ? _clientClosed : _serverClosed);
        if (cleanly) stop.CancelAfter(CloseWait);
        else await stop.CancelAsync();
        await Task.WhenAll(up, down);
        var summary = new WebSocketSummary(_messagesUp, _messagesDown, _bytesUp, _bytesDown, _closeCode, _closedBy ?? "connection");
        var mcp = _toolsChanged.Count == 0 ? _mcp : (_mcp ?? new McpExchange("(websocket)", null, false, null)) with { ToolsChanged = [.. _toolsChanged] };
        return new WebSocketOutcome(summary, _refused, mcp);
    }

    // ---- client to server: reassembled, validated, inspected and decided, then sent as one frame ----
    private async Task UpAsync(CancellationToken ct)
    {
        using var message = new MemoryStream();
        WebSocketOpcode? messageOpcode = null;
        while (true)
        {
            var left = rules.MessageBound - message.Length;
            var frame = await ReadFrameAsync(clientReader, fromClient: true, left, ct);
            if (frame is null)
            {
                Ended(null, WebSocketFrames.Abnormal);
                return;
            }
            if (frame.IsControl)
            {
                var text = frame.Opcode == WebSocketOpcode.Close && frame.Payload.Length > 2 ? frame.Payload.AsSpan(2) : frame.Payload;
                ushort code = frame.Opcode == WebSocketOpcode.Close ? WebSocketFrames.CloseCodeOf(frame.Payload) : (ushort)0;
                if (_controlScan?.Feed(text) is { } inControl) throw new RefusedException(rules.SecretFound(inControl), WebSocketFrames.PolicyViolation);
                if (frame.Opcode == WebSocketOpcode.Close)
                {
                    Ended("client", code);
                    _clientClosed = true;
                    await SendAsync(upstream, _toUpstream, WebSocketFrames.Write(true, WebSocketOpcode.Close, frame.Payload, mask: true), toClient: false, close: true, ct);
                    return;
                }
                await SendAsync(upstream, _toUpstream, WebSocketFrames.Write(true, frame.Opcode, frame.Payload, mask: true), toClient: false, close: false, ct);
                continue;
            }
            messageOpcode = MessageOf(messageOpcode, frame, fromClient: true);
            message.Write(frame.Payload);
            if (!frame.Fin) continue;
            var data = message.ToArray();
            var opcode = messageOpcode.Value;
            message.SetLength(0);
            messageOpcode = null;
            Decide(opcode, data);
            await SendAsync(upstream, _toUpstream, WebSocketFrames.Write(true, opcode, data, mask: true), toClient: false, close: false, ct);
            _messagesUp++;
            _bytesUp += data.Length;
        }
    }

    // One whole client message: valid, free of secrets and placeholders, and on an MCP rule an allowed JSON-RPC message.
    private void Decide(WebSocketOpcode opcode, byte[] data)
    {
        if (opcode == WebSocketOpcode.Text && !System.Text.Unicode.Utf8.IsValid(data))
            throw Malformed("a text message that is not UTF-8", WebSocketFrames.InvalidData, fromClient: true);
        if (rules.Inspector is { } inspector && (inspector.Scan(data) ?? _dataScan!.Feed(data)) is { } found)
            throw new RefusedException(rules.SecretFound(found), WebSocketFrames.PolicyViolation);
        if (rules.Mcp is not { } mcp) return;
        string? problem = null;
        JsonRpcBody? rpc = null;
        if (opcode != WebSocketOpcode.Text) problem = "a binary message on a rule with an mcp section (MCP messages are JSON-RPC text)";
        else if ((rpc = JsonRpcBody.TryParse(data, out var notJsonRpc)) is null) problem = $"not a JSON-RPC message on a rule with an mcp section: {notJsonRpc}";
        if (problem is not null)
        {
            var invalid = new McpExchange("(invalid)", null, true, problem);
            throw new RefusedException(new RequestRefused(Refusal.ByRule(rules.Rule, rules.Authority, problem, 400)) { Mcp = invalid }, WebSocketFrames.PolicyViolation);
        }
        var decision = McpGate.Decide(rpc!, mcp, rules.Rule, gate.IsToolHeld);
        if (mcp.PinsTools)
            lock (_listRequestIds)
                foreach (var m in rpc!.Messages.Where(m => m.IsRequest && m.Method == "tools/list" && !m.HasCursor))
                    _listRequestIds.Add(ToolListingReader.CanonicalId(m.Id!)!);
        if (decision.Exchange.Denied) _mcp = decision.Exchange; // the record names the last denial (under watch mode the message still went on)
        else _mcp ??= decision.Exchange;
        if (decision.Exchange.Denied && rules.Enforced)
            throw new RefusedException(new RequestRefused(Refusal.ByRule(rules.Rule, rules.Authority, decision.Exchange.Reason!)) { Mcp = decision.Exchange },
                WebSocketFrames.PolicyViolation);
    }

    // ---- server to client: validated frame by frame and relayed as it comes ----
    private async Task DownAsync(CancellationToken ct)
    {
        WebSocketOpcode? messageOpcode = null;
        Decoder? text = null;
        long messageBytes = 0;
        var chars = new char[256];
        while (true)
        {
            var frame = await ReadFrameAsync(upstreamReader, fromClient: false, rules.ServerFrameBound, ct);
            if (frame is null)
            {
                Ended(null, WebSocketFrames.Abnormal);
                return;
            }
            if (frame.IsControl)
            {
                if (frame.Opcode == WebSocketOpcode.Close)
                {
                    Ended("server", WebSocketFrames.CloseCodeOf(frame.Payload));
                    _serverClosed = true;
                    await SendAsync(client, _toClient, WebSocketFrames.Write(true, WebSocketOpcode.Close, frame.Payload, mask: false), toClient: true, close: true, ct);
                    return;
                }
                await SendAsync(client, _toClient, WebSocketFrames.Write(true, frame.Opcode, frame.Payload, mask: false), toClient: true, close: false, ct);
                continue;
            }
            var starts = messageOpcode is null;
            messageOpcode = MessageOf(messageOpcode, frame, fromClient: false);
            if (starts && rules.Mcp is { PinsTools: true })
            {
                // A pinning rule: each server message is read whole and compared with the pins before the client sees it.
                var whole = await ReadServerMessageAsync(frame, ct);
                CompareListings(frame.Opcode, whole);
                await SendAsync(client, _toClient, WebSocketFrames.Write(true, frame.Opcode, whole, mask: false), toClient: true, close: false, ct);
                _messagesDown++;
                _bytesDown += whole.Length;
                messageOpcode = null;
                continue;
            }
            if (starts) text = frame.Opcode == WebSocketOpcode.Text ? new UTF8Encoding(false, throwOnInvalidBytes: true).GetDecoder() : null;
            if (text is not null)
            {
                try
                {
                    if (chars.Length < frame.Payload.Length + 4) chars = new char[frame.Payload.Length + 4];
                    text.GetChars(frame.Payload, chars, flush: frame.Fin);
                }
                catch (DecoderFallbackException)
                {
                    throw Malformed("a text message that is not UTF-8", WebSocketFrames.InvalidData, fromClient: false);
                }
            }
            await SendAsync(client, _toClient, WebSocketFrames.Write(frame.Fin, frame.Opcode, frame.Payload, mask: false), toClient: true, close: false, ct);
            messageBytes += frame.Payload.Length;
            if (!frame.Fin) continue;
            _messagesDown++;
            _bytesDown += messageBytes;
            messageBytes = 0;
            messageOpcode = null;
            text = null;
        }
    }

    // The opcode of the message a data frame belongs to: a continuation continues one, anything else starts one.
    private WebSocketOpcode MessageOf(WebSocketOpcode? current, WebSocketFrame frame, bool fromClient) => (frame.Opcode, current) switch
    {
        (WebSocketOpcode.Continuation, null) => throw Malformed("a continuation frame with no message to continue", WebSocketFrames.ProtocolError, fromClient),
        (WebSocketOpcode.Continuation, { } continued) => continued,
        (_, null) => frame.Opcode,
        _ => throw Malformed("a new message before the last one ended", WebSocketFrames.ProtocolError, fromClient),
    };

    // The rest of a server message whose first frame is read (control frames between its fragments are relayed), within the bound.
    private async Task<byte[]> ReadServerMessageAsync(WebSocketFrame first, CancellationToken ct)
    {
        using var message = new MemoryStream();
        message.Write(first.Payload);
        var frame = first;
        while (!frame.Fin)
        {
            frame = await ReadFrameAsync(upstreamReader, fromClient: false, rules.ServerFrameBound - message.Length, ct)
                ?? throw Malformed("a message the connection ended inside", WebSocketFrames.ProtocolError, fromClient: false);
            if (frame.IsControl)
            {
                if (frame.Opcode == WebSocketOpcode.Close) throw Malformed("a close inside a message", WebSocketFrames.ProtocolError, fromClient: false);
                await SendAsync(client, _toClient, WebSocketFrames.Write(true, frame.Opcode, frame.Payload, mask: false), toClient: true, close: false, ct);
                continue;
            }
            if (frame.Opcode != WebSocketOpcode.Continuation) throw Malformed("a new message before the last one ended", WebSocketFrames.ProtocolError, fromClient: false);
            message.Write(frame.Payload);
        }
        return message.ToArray();
    }

    // A server message on a rule that pins tools: any tools/list answer in it is compared with the pins (a changed tool
    // is held by the gate); a message the gateway cannot read as JSON-RPC text never reaches the client.
    private void CompareListings(WebSocketOpcode opcode, byte[] data)
    {
        string[] ids;
        lock (_listRequestIds) ids = [.. _listRequestIds];
        var scan = opcode == WebSocketOpcode.Text && System.Text.Unicode.Utf8.IsValid(data)
            ? ToolListingReader.ReadJson(data, ids)
            : new ListingScan([], [], "a binary or non-UTF-8 message") { ParseFailed = true };
        if (scan.Problem is { } problem)
            throw new RefusedException(new RequestRefused(Refusal.ByCheck(GatewayCheck.UninspectableBody, rules.Authority,
                $"a server message cannot be compared with the pinned tools: {problem}", 502)), WebSocketFrames.PolicyViolation);
        foreach (var listing in scan.Listings)
            foreach (var tool in gate.OnToolsListed(listing))
                lock (_toolsChanged)
                    if (!_toolsChanged.Contains(tool)) _toolsChanged.Add(tool);
    }

    private RefusedException Malformed(string what, ushort code, bool fromClient) =>
        new(new RequestRefused(Refusal.ByCheck(GatewayCheck.WebSocket, rules.Authority,
            $"{(fromClient ? "the client" : "the server")} sent {what}", code == WebSocketFrames.TooBig ? 413 : fromClient ? 400 : 502)), code);

    // Runs one direction; a refusal or a broken frame closes both sides (the first one ends the relay, and is recorded).
    private async Task GuardAsync(Task direction, bool fromClient)
    {
        try
        {
            await direction;
        }
        catch (WebSocketViolationException e)
        {
            await RefuseAsync(Malformed(e.Message, e.CloseCode, fromClient));
        }
        catch (RefusedException e)
        {
            await RefuseAsync(e);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
            Ended(null, WebSocketFrames.Abnormal); // one side went away, or the other side's end stopped this one
        }
    }

    private async Task RefuseAsync(RefusedException e)
    {
        lock (_endLock)
        {
            if (_refused is not null) return;
            _refused = e.Refused;
            _closedBy = "gateway"; // a refusal is what the record must say, whoever began to close
            _closeCode = e.Code;
        }
        var reason = e.Refused.Refusal.Check is { } check ? $"Egress policy ({check}): {e.Refused.Refusal.Reason}" : $"Egress policy (rule {e.Refused.Refusal.Rule}): {e.Refused.Refusal.Reason}";
        await SendAsync(client, _toClient, WebSocketFrames.Close(e.Code, reason, mask: false), toClient: true, close: true, CancellationToken.None);
        await SendAsync(upstream, _toUpstream, WebSocketFrames.Close(e.Code, "closed by the egress gateway", mask: true), toClient: false, close: true, CancellationToken.None);
    }

    private void Ended(string? by, int code)
    {
        lock (_endLock)
        {
            if (_closedBy is not null) return;
            _closedBy = by ?? "connection";
            _closeCode = code;
        }
    }

    // One writer per side at a time; nothing is sent to a side after a close went to it.
    private async Task SendAsync(Stream stream, SemaphoreSlim gateLock, byte[] frame, bool toClient, bool close, CancellationToken ct)
    {
        await gateLock.WaitAsync(CancellationToken.None);
        try
        {
            ref var closeSent = ref toClient ? ref _clientCloseSent : ref _upstreamCloseSent;
            if (closeSent) return;
            if (close) closeSent = true;
            try
            {
                await stream.WriteAsync(frame, ct);
                await stream.FlushAsync(ct);
            }
            catch (Exception e) when (close && e is IOException or ObjectDisposedException or OperationCanceledException) { } // a close to a side already gone
        }
        finally
        {
            gateLock.Release();
        }
    }

    private static async Task<WebSocketFrame?> ReadFrameAsync(PipeReader reader, bool fromClient, long maxPayload, CancellationToken ct)
    {
        while (true)
        {
            var result = await reader.ReadAsync(ct);
            var buffer = result.Buffer;
            bool read;
            WebSocketFrame frame;
            try
            {
                read = WebSocketFrames.TryRead(ref buffer, fromClient, maxPayload, out frame);
            }
            catch
            {
                reader.AdvanceTo(result.Buffer.Start);
                throw;
            }
            if (read)
            {
                reader.AdvanceTo(buffer.Start);
                return frame;
            }
            if (result.IsCompleted)
            {
                reader.AdvanceTo(result.Buffer.End);
                if (!result.Buffer.IsEmpty) throw new WebSocketViolationException(WebSocketFrames.ProtocolError, "the connection ended inside a frame");
                return null;
            }
            reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }
}

using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Corral.Gateway.Http;
using Corral.Policy.Addressing;
using Corral.Policy.Compilation;
using Microsoft.Extensions.Logging;

namespace Corral.Gateway.Proxy;

/// <summary>Where one plain-HTTP request goes: the destination, its port, the origin-form target and the URL for the log.</summary>
internal readonly record struct RequestTarget(Destination Destination, int Port, string OriginForm, string Url)
{
    public string Name => Destination.Host ?? IpBits.Canonical(Destination.Address!).ToString();
}

/// <summary>
/// Forwards plain-HTTP requests one at a time on a kept-alive client connection. Each request is decided on its own
/// (host, every resolved address, port, normalized path) before any byte of it goes upstream; the upstream
/// connection is reused only while requests keep going to the same address and port.
/// </summary>
internal sealed class HttpForwarder(ClientConnection client) : IAsyncDisposable
{
    private static readonly HashSet<string> DroppedHeaders = new(StringComparer.OrdinalIgnoreCase) { "Proxy-Connection", "Proxy-Authorization", "Keep-Alive" };
    private Upstream? _upstream;

    /// <summary>Forwards one request whose head has been consumed; returns whether the client connection may carry another.</summary>
    public async Task<bool> ForwardAsync(HttpHead head, RequestTarget target, CancellationToken ct)
    {
        var ctx = client.Context;
        var flowId = ctx.NewFlowId();
        var started = Stopwatch.GetTimestamp();

        // The Host header must name what the request line names, else it is domain fronting.
        var hostCount = head.Count("Host");
        if (hostCount > 1) return await RefuseAsync(400, "Bad Request", "more than one Host header", target).ConfigureAwait(false);
        if (hostCount == 1 && (!StreamSniffer.TryHostOfAuthority(head.Get("Host")!, out var hostName) || hostName != target.Name))
            return await DenyAsync(flowId, target, head, null, $"domain fronting: the HTTP Host '{HttpHeadParser.Printable(head.Get("Host")!)}' differs from the requested '{target.Name}'").ConfigureAwait(false);
        if (!UrlPath.TryNormalize(target.OriginForm, out var path, out var pathError))
            return await RefuseAsync(400, "Bad Request", $"bad request path: {pathError}", target).ConfigureAwait(false);
        if (!BodyFraming.TryForRequest(head, out var framing, out var framingError))
            return await RefuseAsync(400, "Bad Request", framingError!, target).ConfigureAwait(false);

        var decision = await ctx.Decider.DecideAsync(client.Source.Address, target.Destination, target.Port, path, isTls: false, ct).ConfigureAwait(false);
        if (decision.Refusal is not null)
        {
            client.LogDecision(flowId, decision.Flow, null, null, head.First, target.Url, decision.Refusal);
            ctx.Logger.LogInformation("Flow {FlowId} {Method} {Url}: {Refusal}", flowId, head.First, target.Url, decision.Refusal);
            await TrySendAsync(Responses.Error(502, "Bad Gateway", decision.Refusal), ct).ConfigureAwait(false);
            client.LogClose(flowId, null, decision.Flow.Host, 0, 0, Elapsed(started), decision.Refusal);
            return false;
        }
        var destination = new IPEndPoint(decision.DialAddress, target.Port);
        if (decision.LetsThrough && ctx.Self.IsSelf(destination))
            return await DenyAsync(flowId, target, head, null, $"{destination} is the gateway itself: refusing a proxy loop").ConfigureAwait(false);
        client.LogDecision(flowId, decision.Flow, decision.Verdict, destination, head.First, target.Url, null);
        if (!decision.LetsThrough)
        {
            ctx.Logger.LogInformation("Flow {FlowId} {Method} {Url} denied: {Reason}", flowId, head.First, target.Url, decision.Verdict.ReasonText);
            await TrySendAsync(Responses.Denied($"{target.Name}:{target.Port}", decision.Verdict, null), ct).ConfigureAwait(false);
            client.LogClose(flowId, destination, decision.Flow.Host, 0, 0, Elapsed(started));
            return false;
        }

        try
        {
            if (_upstream is not null && !_upstream.EndPoint.Equals(destination))
            {
                await _upstream.DisposeAsync().ConfigureAwait(false);
                _upstream = null;
            }
            _upstream ??= await Upstream.ConnectAsync(destination, ctx.Limits.ConnectTimeout, ctx.DialGuard, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or TimeoutException)
        {
            ctx.Logger.LogWarning("Flow {FlowId}: cannot reach {Destination}: {Error}", flowId, destination, e.Message);
            await TrySendAsync(Responses.Error(502, "Bad Gateway", $"cannot reach {target.Name}:{target.Port}"), ct).ConfigureAwait(false);
            client.LogClose(flowId, destination, decision.Flow.Host, 0, 0, Elapsed(started), $"upstream unreachable: {e.Message}");
            return false;
        }

        long up = 0, down = 0;
        var keepAlive = false;
        using var idle = new IdleGuard(ctx.Limits.IdleTimeout, ct);
        try
        {
            var expectContinue = head.Get("Expect")?.Equals("100-continue", StringComparison.OrdinalIgnoreCase) == true;
            // The gateway answers 100-continue itself: the request is already permitted, and the client need not wait.
            if (expectContinue) await client.SendAsync(Responses.Continue, idle.Token).ConfigureAwait(false);
            var requestHead = BuildRequestHead(head, target.OriginForm, expectContinue);
            await _upstream.Stream.WriteAsync(requestHead, idle.Token).ConfigureAwait(false);
            up = requestHead.Length + await HttpBody.CopyAsync(client.Reader, _upstream.Stream, framing, idle).ConfigureAwait(false);

            HttpHead response;
            while (true)
            {
                var parser = new HttpHeadParser(isRequest: false);
                var outcome = await PipePeek.PeekAsync(_upstream.Reader, parser, ctx.Limits.MaxHeadBytes, ctx.Limits.IdleTimeout, idle.Token).ConfigureAwait(false);
                if (outcome != PeekOutcome.Done)
                {
                    ctx.Logger.LogWarning("Flow {FlowId}: bad response from {Destination}: {Problem}", flowId, destination, parser.Error ?? outcome.ToString());
                    if (down == 0) await TrySendAsync(Responses.Error(502, "Bad Gateway", "the upstream sent no valid HTTP response"), ct).ConfigureAwait(false);
                    return false;
                }
                response = parser.Head!;
                down += await CopyHeadAsync(response.Length, idle).ConfigureAwait(false);
                if (response.Second[0] != '1' || response.Second == "101") break; // interim responses pass through, then the final one
            }
            if (response.Second == "101")
            {
                // Protocol switch (e.g. WebSocket) on a permitted request: the rest is an opaque splice.
                var spliced = await Splicing.Splicer.RunAsync(ctx.Splice, client.Socket, client.Reader, _upstream.Socket, _upstream.Reader, ctx.Limits.IdleTimeout, ct).ConfigureAwait(false);
                up += spliced.BytesUp;
                down += spliced.BytesDown;
                return false;
            }
            if (!BodyFraming.TryForResponse(response, head.First, out var responseFraming, out var responseError))
            {
                ctx.Logger.LogWarning("Flow {FlowId}: bad response framing from {Destination}: {Problem}", flowId, destination, responseError);
                return false;
            }
            down += await HttpBody.CopyAsync(_upstream.Reader, client.Stream, responseFraming, idle).ConfigureAwait(false);
            keepAlive = WantsKeepAlive(head) && !response.HasToken("Connection", "close") && responseFraming.Kind != BodyKind.UntilClose
                        && response.First == "HTTP/1.1";
            return keepAlive;
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or InvalidDataException)
        {
            ctx.Logger.LogDebug("Flow {FlowId}: ended early: {Error}", flowId, e.Message);
            return false;
        }
        finally
        {
            if (!keepAlive && _upstream is not null)
            {
                await _upstream.DisposeAsync().ConfigureAwait(false);
                _upstream = null;
            }
            client.LogClose(flowId, destination, decision.Flow.Host, up, down, Elapsed(started));
        }
    }

    /// <summary>A refusal of a malformed request: an HTTP error and a log line, then the connection closes.</summary>
    public async Task<bool> RefuseAsync(int status, string phrase, string problem, RequestTarget? target)
    {
        client.LogRefusal(problem, host: target?.Destination.Host);
        await TrySendAsync(Responses.Error(status, phrase, problem), CancellationToken.None).ConfigureAwait(false);
        return false;
    }

    private async Task<bool> DenyAsync(string flowId, RequestTarget target, HttpHead head, Verdict? verdict, string refusal)
    {
        client.Context.Logger.LogWarning("Flow {FlowId} {Method} {Url} from {Source} refused: {Refusal}", flowId, head.First, target.Url, client.Source, refusal);
        client.LogDecision(flowId, new Flow { Source = client.Source.Address, Host = target.Destination.Host, Port = target.Port }, verdict, null, head.First, target.Url, refusal);
        await TrySendAsync(Responses.Denied($"{target.Name}:{target.Port}", verdict, refusal), CancellationToken.None).ConfigureAwait(false);
        client.LogClose(flowId, null, target.Destination.Host, 0, 0, 0, refusal);
        return false;
    }

    private async Task<long> CopyHeadAsync(int length, IdleGuard idle)
    {
        var reader = _upstream!.Reader;
        var result = await reader.ReadAsync(idle.Token).ConfigureAwait(false);
        var head = result.Buffer.Slice(0, length);
        foreach (var segment in head) await client.Stream.WriteAsync(segment, idle.Token).ConfigureAwait(false);
        reader.AdvanceTo(head.End);
        return length;
    }

    private async Task TrySendAsync(byte[] bytes, CancellationToken ct)
    {
        try { await client.SendAsync(bytes, ct).ConfigureAwait(false); }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException) { }
    }

    private static bool WantsKeepAlive(HttpHead head) =>
        head.Third == "HTTP/1.1" ? !head.HasToken("Connection", "close") : head.HasToken("Connection", "keep-alive");

    private static byte[] BuildRequestHead(HttpHead head, string originForm, bool dropExpect)
    {
        var sb = new StringBuilder(256);
        sb.Append(head.First).Append(' ').Append(originForm).Append(' ').Append(head.Third).Append("\r\n");
        foreach (var (name, value) in head.Headers)
        {
            if (DroppedHeaders.Contains(name)) continue;
            if (dropExpect && name.Equals("Expect", StringComparison.OrdinalIgnoreCase)) continue;
            sb.Append(name).Append(": ").Append(value).Append("\r\n");
        }
        sb.Append("\r\n");
        return Encoding.Latin1.GetBytes(sb.ToString());
    }

    private static double Elapsed(long started) => Stopwatch.GetElapsedTime(started).TotalMilliseconds;

    public async ValueTask DisposeAsync()
    {
        if (_upstream is not null) await _upstream.DisposeAsync().ConfigureAwait(false);
    }
}

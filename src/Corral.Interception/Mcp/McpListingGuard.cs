using System.IO.Pipelines;
using System.Text;
using Corral.Interception.Http;

namespace Corral.Interception.Mcp;

/// <summary>What became of one response on a rule that pins tools.</summary>
/// <param name="Down">Bytes written to the client.</param>
/// <param name="Refusal">Set when output that may hold a listing could not be compared with the pins and was withheld.</param>
/// <param name="Status">The status the client got.</param>
internal sealed record GuardedResponse(long Down, Refusal? Refusal, int Status);

/// <summary>
/// Every response body on a rule that pins tools (<c>pinTools</c>) passes here, whatever its request, status, framing,
/// coding or content type: an MCP client takes any result carrying a <c>tools</c> array for a listing when its id
/// matches a pending tools/list request, on the POST's answer, its event stream or the session's GET stream. Each such
/// result is compared with the pins before any byte of it reaches the client, so that a changed tool is held before
/// the client can call it; output that may hold a listing and cannot be read is withheld, and the client's pending
/// requests get a JSON-RPC error instead. An uncoded event stream is relayed event by event (a GET stream never ends);
/// anything else is read whole within the buffered-body bound.
/// </summary>
internal sealed class McpListingGuard(InterceptionOptions options, IRequestGate policy, JsonRpcBody? requestBody, string rule, string authority)
{
    private readonly List<string> _listRequestIds = requestBody?.Messages
        .Where(m => m.IsRequest && m.Method == "tools/list" && !m.HasCursor)
        .Select(m => ToolListingReader.CanonicalId(m.Id!)!).ToList() ?? [];

    /// <summary>The tools that differ from the pins, over every listing seen.</summary>
    public List<string> Changed { get; } = [];

    public async Task<GuardedResponse> RelayAsync(PipeReader upstream, Stream client, HttpResponseHead response, byte[] head, CancellationToken ct)
    {
        var codings = ContentDecoding.CodingsOf(response.Headers);
        var mediaTypes = HttpHeaders.Values(response.Headers, "Content-Type").Select(v => v.Split(';')[0].Trim().ToLowerInvariant()).ToList();
        var eventStream = mediaTypes.Contains("text/event-stream");
        if (eventStream && codings.Count == 0 && response.Framing is BodyFraming.Chunked or BodyFraming.UntilClose)
            return await RelayEventsAsync(upstream, client, response, head, ct);
        return await RelayWholeAsync(upstream, client, response, head, codings, eventStream, mediaTypes, ct);
    }

    // ---- read whole: JSON answers, coded or Content-Length framed streams ----
    private async Task<GuardedResponse> RelayWholeAsync(PipeReader upstream, Stream client, HttpResponseHead response, byte[] head, List<string> codings,
        bool eventStream, List<string> mediaTypes, CancellationToken ct)
    {
        // Chunk framing is kept as received, so the framed body may be somewhat larger than its content.
        using var answer = BoundedBuffer.Refusing(head.Length + 2 * options.BufferedBodyLimit);
        using var content = BoundedBuffer.Capturing(options.BufferedBodyLimit);
        answer.Write(head);
        try
        {
            // A body that runs to the connection's end has no framing: its bytes are its content.
            await BodyCopier.CopyAsync(upstream, answer, response.Framing, response.ContentLength, null, ct,
                response.Framing == BodyFraming.UntilClose ? null : content);
        }
        catch (BoundedBuffer.FullException)
        {
            return await WithholdAsync(client, $"the answer is larger than {options.BufferedBodyLimit} bytes: it cannot be compared with the pinned tools", 502, ct);
        }
        if (response.Framing == BodyFraming.UntilClose) content.Write(answer.GetBuffer().AsSpan(head.Length, (int)answer.Length - head.Length));
        if (content.Overflowed)
            return await WithholdAsync(client, $"the answer is larger than {options.BufferedBodyLimit} bytes: it cannot be compared with the pinned tools", 502, ct);
        byte[] body;
        try
        {
            body = codings.Count == 0 ? content.ToArray() : ContentDecoding.Decode(content.ToArray(), codings, options.DecodedBodyLimit);
        }
        catch (HttpMessageRefusedException e)
        {
            return await WithholdAsync(client, $"the answer cannot be decoded to compare it with the pinned tools: {e.Message}", 502, ct);
        }
        if (ScanWhole(body, eventStream, mediaTypes) is { } problem)
            return await WithholdAsync(client, $"the answer cannot be compared with the pinned tools: {problem}", 502, ct);
        await client.WriteAsync(answer.GetBuffer().AsMemory(0, (int)answer.Length), ct);
        return new GuardedResponse(answer.Length, null, response.Status);
    }

    private string? ScanWhole(byte[] body, bool eventStream, List<string> mediaTypes)
    {
        if (eventStream)
        {
            var splitter = new EventStreamSplitter(int.MaxValue);
            foreach (var e in splitter.Feed(body).Append(splitter.Rest()))
                if (e is not null && CheckEvent(e) is { Problem: { } problem }) return problem;
            return null;
        }
        var scan = ToolListingReader.ReadJson(body, _listRequestIds);
        // A body neither JSON nor declared as JSON is one no MCP client reads as a message (an error page).
        var declaredJson = mediaTypes.Count == 0 || mediaTypes.Any(t => t == "application/json" || t.EndsWith("+json", StringComparison.Ordinal));
        if (scan.ParseFailed && !declaredJson) return null;
        return Check(scan).Problem;
    }

    // ---- event by event: an uncoded stream (chunked or until close) ----
    private async Task<GuardedResponse> RelayEventsAsync(PipeReader upstream, Stream client, HttpResponseHead response, byte[] head, CancellationToken ct)
    {
        await client.WriteAsync(head, ct);
        await client.FlushAsync(ct);
        var relay = new EventRelay(this, client, response.Framing == BodyFraming.Chunked, options.BufferedBodyLimit);
        try
        {
            if (response.Framing == BodyFraming.Chunked) await BodyCopier.CopyChunkedAsync(upstream, Stream.Null, null, ct, relay);
            else await BodyCopier.CopyToEndAsync(upstream, relay, ct);
            await relay.EndAsync(ct);
        }
        catch (WithheldException withheld)
        {
            await relay.EndWithErrorsAsync(withheld, ct);
            return new GuardedResponse(head.Length + relay.Written, Refused(withheld.Problem, response.Status), response.Status);
        }
        catch (InvalidDataException tooLong)
        {
            var withheld = new WithheldException($"{tooLong.Message} cannot be compared with the pinned tools", []);
            await relay.EndWithErrorsAsync(withheld, ct);
            return new GuardedResponse(head.Length + relay.Written, Refused(withheld.Problem, response.Status), response.Status);
        }
        return new GuardedResponse(head.Length + relay.Written, null, response.Status);
    }

    private sealed class WithheldException(string problem, IReadOnlyList<string> ids) : Exception(problem)
    {
        public string Problem { get; } = problem;
        public IReadOnlyList<string> Ids { get; } = ids;
    }

    /// <summary>Receives the stream's data; relays each event once it is checked, re-framed as one chunk when the stream is chunked.</summary>
    private sealed class EventRelay(McpListingGuard guard, Stream client, bool chunked, int maxEvent) : Stream
    {
        private readonly EventStreamSplitter _splitter = new(maxEvent);
        public long Written { get; private set; }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            foreach (var e in _splitter.Feed(buffer.Span)) await RelayAsync(e, cancellationToken);
        }

        private async Task RelayAsync(byte[] rawEvent, CancellationToken ct)
        {
            var scan = guard.CheckEvent(rawEvent);
            if (scan.Problem is { } problem) throw new WithheldException(problem, scan.Ids);
            await SendAsync(rawEvent, ct);
        }

        private async Task SendAsync(byte[] bytes, CancellationToken ct)
        {
            var framed = chunked ? [.. Encoding.ASCII.GetBytes($"{bytes.Length:x}\r\n"), .. bytes, .. "\r\n"u8] : bytes;
            await client.WriteAsync(framed, ct);
            await client.FlushAsync(ct);
            Written += framed.Length;
        }

        /// <summary>The stream ended: what is left is checked as an event too (a client may dispatch it), then the stream is ended.</summary>
        public async Task EndAsync(CancellationToken ct)
        {
            if (_splitter.Rest() is { } rest) await RelayAsync(rest, ct);
            await EndChunksAsync(ct);
        }

        /// <summary>Answers the pending requests the withheld output may have answered with JSON-RPC errors, then ends the stream.</summary>
        public async Task EndWithErrorsAsync(WithheldException withheld, CancellationToken ct)
        {
            foreach (var rawId in withheld.Ids.Concat(guard.RequestRawIds).Distinct())
                await SendAsync([.. "event: message\ndata: "u8, .. McpGate.ErrorMessage(rawId, withheld.Problem, guard._rule), .. "\n\n"u8], ct);
            await EndChunksAsync(ct);
        }

        private async Task EndChunksAsync(CancellationToken ct)
        {
            if (!chunked) return;
            await client.WriteAsync("0\r\n\r\n"u8.ToArray(), ct);
            await client.FlushAsync(ct);
            Written += 5;
        }

        public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }

    private readonly string _rule = rule;

    // The raw ids of the requests this response answers (the POST's), as a client waits for them.
    private IEnumerable<string> RequestRawIds => requestBody?.Messages.Where(m => m.IsRequest).Select(m => m.Id!) ?? [];

    // An event's data is one JSON-RPC message; an event without data is skipped by clients, and so here.
    private ListingScan CheckEvent(byte[] rawEvent)
    {
        if (EventStreamSplitter.DataOf(rawEvent) is not { } data) return ListingScan.None;
        var scan = ToolListingReader.ReadJson(Encoding.UTF8.GetBytes(data), _listRequestIds);
        return Check(scan with { Ids = scan.Ids.Select(RawId).ToList() });
    }

    // Compares each listing with the pins (holding what changed) unless the output cannot be read.
    private ListingScan Check(ListingScan scan)
    {
        if (scan.Problem is not null) return scan;
        foreach (var listing in scan.Listings)
            foreach (var tool in policy.OnToolsListed(listing))
                if (!Changed.Contains(tool)) Changed.Add(tool);
        return scan;
    }

    // A canonical id back as raw JSON: a string as a JSON string, a number as written.
    private static string RawId(string canonical) =>
        canonical.StartsWith("s:", StringComparison.Ordinal) ? System.Text.Json.JsonSerializer.Serialize(canonical[2..]) : canonical[2..];

    private Refusal Refused(string problem, int status) => Refusal.ByCheck(GatewayCheck.UninspectableBody, authority, problem, status);

    // Nothing of the answer was relayed: the requests it answers get JSON-RPC errors (a client surfaces them to its
    // caller), or, with no request to answer (the GET stream), the HTTP refusal.
    private async Task<GuardedResponse> WithholdAsync(Stream client, string problem, int status, CancellationToken ct)
    {
        var ids = RequestRawIds.ToList();
        var refusal = Refused(problem, ids.Count > 0 ? 200 : status);
        var bytes = ids.Count > 0
            ? McpGate.ErrorAnswer(ids.Select(id => (id, problem, (string?)null)).ToList(), requestBody!.IsBatch, _rule)
            : refusal.ToHttpResponse();
        try
        {
            await client.WriteAsync(bytes, ct);
            await client.FlushAsync(ct);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException) { } // the client went away; the record is written
        return new GuardedResponse(bytes.Length, refusal, refusal.Status);
    }
}

using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Net.Sockets;

namespace Corral.Gateway.Tls;

/// <summary>
/// How watching a spliced TLS handshake ended: <see cref="Problem"/> when the flow must be refused, <see cref="Ended"/>
/// when a side closed or the time ran out (the flow just ends), neither when the rest may be spliced.
/// </summary>
internal readonly record struct HandshakeWatch(string? Problem, string? Ended, long BytesUp, long BytesDown);

/// <summary>
/// Relays a spliced TLS handshake record by record while any later ClientHello could still appear in the clear, so
/// that the flow is decided on every ClientHello the client sends, not only the first. A HelloRetryRequest from the
/// server lets the client send one more ClientHello: it is held until parsed, and must name the same server, offer
/// the same ALPN and the same ECH as the first. Anything else the client sends in the clear before its keys are in
/// use — a second ClientHello before the server answered, a ClientHello after the server chose TLS 1.2
/// (renegotiation in the clear), an unknown handshake message or record type — ends the flow. Once the client sends
/// encrypted records (TLS 1.3 after the ServerHello, TLS 1.2 after its ChangeCipherSpec) no ClientHello can follow in
/// the clear and the caller splices the rest; bytes read but not relayed stay in the readers.
/// </summary>
internal static class HandshakeGuard
{
    private const byte ChangeCipherSpec = 20, Alert = 21, Handshake = 22, ApplicationData = 23;
    private const int MaxRecordPayload = 16384 + 2048;

    // RFC 8446 4.1.3: a ServerHello whose random is SHA-256("HelloRetryRequest") is a HelloRetryRequest.
    private static ReadOnlySpan<byte> RetryRandom =>
    [
        0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
        0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
    ];

    private enum Phase
    {
        AwaitingServerHello,
        AwaitingSecondHello,   // the server sent a HelloRetryRequest
        AwaitingFinalServerHello,
        Tls12,                  // the server chose TLS 1.2 or older: the client's next flight is in the clear up to its ChangeCipherSpec
        Tls13,                  // the server chose TLS 1.3: everything the client sends next is encrypted
    }

    private sealed class State(PipeReader client, PipeReader upstream)
    {
        private int _phase;
        public Phase Phase { get => (Phase)Volatile.Read(ref _phase); set => Volatile.Write(ref _phase, (int)value); }
        private string? _problem, _ended;
        public string? Problem => Volatile.Read(ref _problem);
        public string? Ended => Volatile.Read(ref _ended);
        public volatile bool ClientDone;
        public long Up, Down;
        public bool Stopped => Problem is not null || Ended is not null;

        public void Fail(string problem) => Stop(ref _problem, problem);

        public void End(string why) => Stop(ref _ended, why);

        private void Stop(ref string? field, string text)
        {
            Interlocked.CompareExchange(ref field, text, null);
            client.CancelPendingRead();
            upstream.CancelPendingRead();
        }

        public void FinishClient()
        {
            ClientDone = true;
            upstream.CancelPendingRead();
        }
    }

    /// <param name="maxHelloBytes">The largest ClientHello accepted (the first was already held to it).</param>
    /// <param name="timeout">How long the handshake may take before the flow is cut.</param>
    public static async Task<HandshakeWatch> RunAsync(PipeReader client, Socket clientSocket, PipeReader upstream, Socket upstreamSocket,
        int maxHelloBytes, TimeSpan timeout, CancellationToken ct)
    {
        var state = new State(client, upstream);
        using var timer = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timer.CancelAfter(timeout);
        await using (timer.Token.UnsafeRegister(s => ((State)s!).Fail("the TLS handshake did not complete in time"), state).ConfigureAwait(false))
        {
            var up = ClientSideAsync(state, client, upstreamSocket, maxHelloBytes, timer.Token);
            var down = ServerSideAsync(state, upstream, clientSocket, timer.Token);
            await Task.WhenAll(up, down).ConfigureAwait(false);
        }
        return new HandshakeWatch(state.Problem, state.Problem is null ? state.Ended : null, state.Up, state.Down);
    }

    /// <summary>The client's records: every one parsed and agreed with before it is relayed.</summary>
    private static async Task ClientSideAsync(State state, PipeReader client, Socket upstream, int maxHelloBytes, CancellationToken ct)
    {
        ClientHelloParser? first = null;
        var messages = new HandshakeMessages(maxHelloBytes, type => type == 1);
        try
        {
            while (!state.Stopped)
            {
                var (record, status) = await ReadRecordAsync(client, state).ConfigureAwait(false);
                if (status is not null)
                {
                    if (status.Length > 0) state.Fail($"from the client: {status}");
                    else if (!state.Stopped) state.End("the client closed during the TLS handshake");
                    return;
                }
                var (type, payload) = (record![0], record.AsMemory(5));
                var phase = state.Phase;
                var finished = false;
                string? problem = null;
                switch (type)
                {
                    case Handshake:
                        problem = messages.Feed(payload.Span, (message, body) =>
                        {
                            if (message != 1) return state.Phase == Phase.Tls12 && message is 11 or 15 or 16
                                ? null : $"unexpected handshake message {message} from the client before the handshake completed";
                            var hello = new ClientHelloParser(maxHelloBytes);
                            if (hello.ParseHello(body) != Sniffing.ParseStatus.Done) return $"malformed ClientHello: {hello.Error}";
                            if (first is null) { first = hello; return null; }
                            if (state.Phase != Phase.AwaitingSecondHello)
                                return state.Phase == Phase.Tls12 ? "a ClientHello in the clear after the server answered (renegotiation)" : "a further ClientHello the server did not ask for";
                            if (Disagreement(first, hello) is { } why) return $"the ClientHello after the HelloRetryRequest {why}";
                            state.Phase = Phase.AwaitingFinalServerHello;
                            return null;
                        });
                        break;
                    case ChangeCipherSpec:
                        // TLS 1.3 clients may send one for middlebox compatibility at any point; in TLS 1.2 it means
                        // everything after it is encrypted.
                        if (payload.Length != 1 || payload.Span[0] != 1) problem = "malformed ChangeCipherSpec from the client";
                        else finished = phase == Phase.Tls12;
                        break;
                    case ApplicationData:
                        // Encrypted: the handshake's client flight (TLS 1.3), or 0-RTT early data sent before the server answered.
                        if (phase == Phase.Tls13) finished = true;
                        else if (phase == Phase.Tls12 || first is null) problem = "application data from the client before the handshake";
                        break;
                    case Alert:
                        break;
                    default:
                        problem = $"unexpected TLS record type {type} from the client during the handshake";
                        break;
                }
                if (problem is not null)
                {
                    state.Fail(problem);
                    return;
                }
                await SendAsync(upstream, record, ct).ConfigureAwait(false);
                state.Up += record.Length;
                if (finished) return;
            }
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or ObjectDisposedException)
        {
            state.End($"the TLS handshake ended: {e.Message}");
        }
        finally
        {
            state.FinishClient();
        }
    }

    /// <summary>The server's records: parsed up to its ServerHello (through a HelloRetryRequest), then relayed unread
    /// until the client's side is done.</summary>
    private static async Task ServerSideAsync(State state, PipeReader upstream, Socket client, CancellationToken ct)
    {
        var messages = new HandshakeMessages(64 * 1024, type => type == 2);
        try
        {
            while (!state.Stopped && !state.ClientDone)
            {
                var phase = state.Phase;
                if (phase is Phase.Tls12 or Phase.Tls13)
                {
                    if (!await RelayBufferedAsync(state, upstream, client, ct).ConfigureAwait(false)) return;
                    continue;
                }
                var (record, status) = await ReadRecordAsync(upstream, state).ConfigureAwait(false);
                if (status is not null)
                {
                    if (status.Length > 0) state.Fail($"from the server: {status}");
                    else if (!state.Stopped && !state.ClientDone) state.End("the server closed during the TLS handshake");
                    return;
                }
                string? problem = null;
                if (record![0] == Handshake)
                {
                    problem = messages.Feed(record.AsSpan(5), (message, body) =>
                    {
                        if (message != 2) return state.Phase is Phase.Tls12 or Phase.Tls13 ? null : $"the server sent handshake message {message} before its ServerHello";
                        var (retry, tls13, error) = ReadServerHello(body);
                        if (error is not null) return error;
                        switch (state.Phase)
                        {
                            case Phase.AwaitingServerHello when retry:
                                // Set before the HelloRetryRequest reaches the client: its next ClientHello can only come after.
                                state.Phase = Phase.AwaitingSecondHello;
                                return null;
                            case Phase.AwaitingServerHello or Phase.AwaitingFinalServerHello when !retry:
                                state.Phase = tls13 ? Phase.Tls13 : Phase.Tls12;
                                return state.Phase == Phase.Tls12 && phase == Phase.AwaitingFinalServerHello ? "the server chose TLS 1.2 after a HelloRetryRequest" : null;
                            default:
                                return retry ? "a second HelloRetryRequest" : "a ServerHello before the client's second ClientHello";
                        }
                    });
                }
                else if (record[0] is not (ChangeCipherSpec or Alert))
                {
                    problem = $"unexpected TLS record type {record[0]} from the server before its ServerHello";
                }
                if (problem is not null)
                {
                    state.Fail(problem);
                    return;
                }
                await SendAsync(client, record, ct).ConfigureAwait(false);
                state.Down += record.Length;
            }
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or ObjectDisposedException)
        {
            state.End($"the TLS handshake ended: {e.Message}");
        }
    }

    /// <summary>Relays whatever the server sends next, unread; false once the guard is over (bytes not relayed stay in the reader).</summary>
    private static async Task<bool> RelayBufferedAsync(State state, PipeReader upstream, Socket client, CancellationToken ct)
    {
        var result = await upstream.ReadAsync(CancellationToken.None).ConfigureAwait(false);
        var buffer = result.Buffer;
        if (state.ClientDone || state.Stopped)
        {
            upstream.AdvanceTo(buffer.Start);
            return false;
        }
        foreach (var segment in buffer) await SendAsync(client, segment, ct).ConfigureAwait(false);
        state.Down += buffer.Length;
        upstream.AdvanceTo(buffer.End);
        if (!result.IsCompleted) return true;
        if (!state.ClientDone) state.End("the server closed during the TLS handshake");
        return false;
    }

    /// <summary>
    /// One whole record (header and payload), consumed from the reader. Status null: a record; "": the guard is over
    /// or the stream ended cleanly between records; else what was wrong.
    /// </summary>
    private static async ValueTask<(byte[]? Record, string? Status)> ReadRecordAsync(PipeReader reader, State state)
    {
        while (true)
        {
            var result = await reader.ReadAsync(CancellationToken.None).ConfigureAwait(false);
            var buffer = result.Buffer;
            if (state.Stopped || result.IsCanceled)
            {
                reader.AdvanceTo(buffer.Start);
                return (null, "");
            }
            if (buffer.Length >= 5)
            {
                var (version, length) = ReadHeader(buffer);
                if (version != 3) { reader.AdvanceTo(buffer.Start); return (null, "unknown TLS record version"); }
                if (length == 0 || length > MaxRecordPayload) { reader.AdvanceTo(buffer.Start); return (null, "bad TLS record length"); }
                if (buffer.Length >= 5 + length)
                {
                    var record = buffer.Slice(0, 5 + length).ToArray();
                    reader.AdvanceTo(buffer.GetPosition(5 + length));
                    return (record, null);
                }
            }
            if (result.IsCompleted)
            {
                reader.AdvanceTo(buffer.Start);
                return (null, buffer.IsEmpty ? "" : "the stream ended inside a TLS record");
            }
            reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    private static (byte Version, int Length) ReadHeader(in ReadOnlySequence<byte> buffer)
    {
        Span<byte> header = stackalloc byte[5];
        buffer.Slice(0, 5).CopyTo(header);
        return (header[1], BinaryPrimitives.ReadUInt16BigEndian(header[3..]));
    }

    /// <summary>Reads a ServerHello body: whether it is a HelloRetryRequest and whether it selects TLS 1.3.</summary>
    private static (bool Retry, bool Tls13, string? Error) ReadServerHello(ReadOnlySpan<byte> body)
    {
        const string bad = "malformed ServerHello";
        if (body.Length < 2 + 32 + 1) return (false, false, bad);
        var retry = body.Slice(2, 32).SequenceEqual(RetryRandom);
        var rest = body[34..];
        int sessionLength = rest[0];
        if (rest.Length < 1 + sessionLength + 3) return (false, false, bad);
        rest = rest[(1 + sessionLength + 3)..];
        var tls13 = false;
        if (rest.IsEmpty) return (retry, false, retry ? bad : null);
        if (rest.Length < 2 || BinaryPrimitives.ReadUInt16BigEndian(rest) != rest.Length - 2) return (false, false, bad);
        rest = rest[2..];
        while (!rest.IsEmpty)
        {
            if (rest.Length < 4) return (false, false, bad);
            var type = BinaryPrimitives.ReadUInt16BigEndian(rest);
            var length = BinaryPrimitives.ReadUInt16BigEndian(rest[2..]);
            if (rest.Length < 4 + length) return (false, false, bad);
            // supported_versions: the selected version (RFC 8446 4.2.1).
            if (type == 43 && length == 2 && BinaryPrimitives.ReadUInt16BigEndian(rest[4..]) == 0x0304) tls13 = true;
            rest = rest[(4 + length)..];
        }
        return retry && !tls13 ? (false, false, "a HelloRetryRequest that does not select TLS 1.3") : (retry, tls13, null);
    }

    /// <summary>What a ClientHello after a HelloRetryRequest changed that it must not (RFC 8446 4.1.2), or null.</summary>
    private static string? Disagreement(ClientHelloParser first, ClientHelloParser second)
    {
        if (first.ServerName != second.ServerName)
            return $"names '{second.ServerName ?? "(no SNI)"}', not '{first.ServerName ?? "(no SNI)"}'";
        if (!(first.Alpn ?? []).AsSpan().SequenceEqual(second.Alpn ?? []) || (first.Alpn is null) != (second.Alpn is null))
            return "offers other application protocols (ALPN)";
        if (first.OffersEch != second.OffersEch) return second.OffersEch ? "adds Encrypted Client Hello" : "drops Encrypted Client Hello";
        return null;
    }

    private static async ValueTask SendAsync(Socket to, ReadOnlyMemory<byte> bytes, CancellationToken ct)
    {
        while (!bytes.IsEmpty) bytes = bytes[await to.SendAsync(bytes, SocketFlags.None, ct).ConfigureAwait(false)..];
    }
}

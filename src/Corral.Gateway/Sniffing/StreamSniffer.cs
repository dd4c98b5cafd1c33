using Corral.Gateway.Proxy;
using Corral.Gateway.Tls;
using Corral.Interception;
using Corral.Interception.Http;

namespace Corral.Gateway.Sniffing;

/// <summary>What the first bytes of a stream turned out to be.</summary>
internal enum StreamKind { Tls, Http, Opaque, Silent, Closed, Bad }

/// <summary>The outcome of sniffing: the kind, the host name it names (SNI, or the HTTP target or Host), the first HTTP
/// request (parsed once, handed on to the request pipeline), or what was wrong.</summary>
internal readonly record struct Sniffed(StreamKind Kind, string? Name, ParsedRequest? Request, string? Problem, bool LooksLikeTls = false, int Status = 400)
{
    public bool IsTls => Kind == StreamKind.Tls;

    /// <summary>The ClientHello carries Encrypted Client Hello: the name it really asks for may not be <see cref="Name"/>.</summary>
    public bool OffersEch { get; init; }
}

/// <summary>
/// Looks at the start of a client's stream without consuming it: a TLS ClientHello (for the SNI) or an HTTP request
/// head (for the names it gives). A stream that begins like HTTP (empty lines included) is HTTP and must parse; a
/// ClientHello must parse; either one that does not is bad input, refused, never passed on. Bounded by size and time.
/// </summary>
internal static class StreamSniffer
{
    /// <remarks>Runs where the client's bytes arrive (a socket event thread): the parse is bounded and cheap, and a
    /// spliced flow, the common outcome, continues there. Whatever decrypts or relays requests moves to the pool first.</remarks>
    public static async ValueTask<Sniffed> SniffAsync(ClientConnection client, CancellationToken ct)
    {
        client.ReadsResumeOnPool = false;
        try
        {
            return await SniffFirstBytesAsync(client, ct).ConfigureAwait(false);
        }
        finally
        {
            client.ReadsResumeOnPool = true;
        }
    }

    private static async ValueTask<Sniffed> SniffFirstBytesAsync(ClientConnection client, CancellationToken ct)
    {
        var limits = client.Context.Limits;
        // One deadline for the whole ClientHello, counted from the start: a first byte sent late does not buy more time.
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        TimeSpan Left(TimeSpan limit) => TimeSpan.FromTicks(Math.Max(1, (limit - System.Diagnostics.Stopwatch.GetElapsedTime(started)).Ticks));
        var first = new FirstByteParser();
        var outcome = await PipePeek.PeekAsync(client.Reader, first, 1, limits.ClientHelloTimeout, ct).ConfigureAwait(false);
        if (outcome == PeekOutcome.Closed) return new(StreamKind.Closed, null, null, "client closed before sending anything");
        if (outcome == PeekOutcome.TimedOut) return new(StreamKind.Silent, null, null, null);

        if (first.Value == 0x16)
        {
            var hello = new ClientHelloParser(limits.MaxClientHelloBytes);
            outcome = await PipePeek.PeekAsync(client.Reader, hello, limits.MaxClientHelloBytes, Left(limits.ClientHelloTimeout), ct).ConfigureAwait(false);
            return outcome switch
            {
                PeekOutcome.Done => new(StreamKind.Tls, hello.ServerName, null, null) { OffersEch = hello.OffersEch },
                PeekOutcome.Invalid => new(StreamKind.Bad, null, null, $"malformed TLS ClientHello: {hello.Error}", LooksLikeTls: true),
                PeekOutcome.TooLarge => new(StreamKind.Bad, null, null, "TLS ClientHello larger than the limit", LooksLikeTls: true),
                PeekOutcome.TimedOut => new(StreamKind.Bad, null, null, "incomplete TLS ClientHello within the time limit", LooksLikeTls: true),
                _ => new(StreamKind.Bad, null, null, "truncated TLS ClientHello: the client closed mid-way", LooksLikeTls: true),
            };
        }
        if (!BeginsLikeHttp(first.Value)) return new(StreamKind.Opaque, null, null, null);

        var peek = new HttpRequestPeek(client.Context.HttpLimits);
        outcome = await PipePeek.PeekAsync(client.Reader, peek, limits.MaxHeadBytes + 1, Left(limits.HeadTimeout), ct).ConfigureAwait(false);
        switch (outcome)
        {
            case PeekOutcome.Done:
                var request = peek.Parsed!;
                return NameOf(request.Head) is { } name
                    ? new(StreamKind.Http, name, request, null)
                    : new(StreamKind.Bad, null, request, "HTTP request naming no valid host (Host header or absolute target)");
            case PeekOutcome.Invalid when peek.NotHttp:
                return new(StreamKind.Opaque, null, null, null);
            case PeekOutcome.Invalid:
                return new(StreamKind.Bad, null, null, $"malformed HTTP request: {peek.Error}", Status: peek.Status);
            case PeekOutcome.TooLarge:
                return new(StreamKind.Bad, null, null, $"HTTP request head larger than {limits.MaxHeadBytes} bytes", Status: 431);
            case PeekOutcome.TimedOut:
                return new(StreamKind.Bad, null, null, $"HTTP request head not complete within {limits.HeadTimeout.TotalSeconds:0.#} s", Status: 408);
            default:
                return new(StreamKind.Bad, null, null, "the client closed in the middle of an HTTP request head");
        }
    }

    // An HTTP request starts with a method (a token) or with the empty lines RFC 9112 tells servers to skip.
    private static bool BeginsLikeHttp(byte b) => b is (byte)'\r' or (byte)'\n' || char.IsAsciiLetter((char)b);

    /// <summary>The host a request names: its absolute-form target's authority (which wins over Host), else its Host header.</summary>
    public static string? NameOf(HttpRequestHead head)
    {
        var authority = HttpAuthority.TrySplitAbsolute(head.Target, out _, out var fromTarget, out _) ? fromTarget : head.Host;
        return authority is not null && HttpAuthority.TryParse(authority, 80, out var destination, out _, out _) ? HttpAuthority.NameOf(destination) : null;
    }
}

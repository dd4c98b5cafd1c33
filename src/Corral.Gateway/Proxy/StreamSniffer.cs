using Corral.Gateway.Http;
using Corral.Gateway.Tls;
using Corral.Policy.Addressing;

namespace Corral.Gateway.Proxy;

/// <summary>What the first bytes of a stream turned out to be.</summary>
internal enum StreamKind { Tls, Http, Opaque, Silent, Closed, Bad }

/// <summary>The outcome of sniffing: the kind, the host name it names (SNI or Host), the first HTTP head, or what was wrong.</summary>
internal readonly record struct Sniffed(StreamKind Kind, string? Name, HttpHead? Head, string? Problem)
{
    public bool IsTls => Kind == StreamKind.Tls;
}

/// <summary>
/// Looks at the start of a client's stream without consuming it: a TLS ClientHello (for the SNI) or an HTTP request
/// head (for the Host). Bounded by size and time; a ClientHello that is malformed, truncated or too slow is bad input.
/// </summary>
internal static class StreamSniffer
{
    public static async ValueTask<Sniffed> SniffAsync(ClientConnection client, CancellationToken ct)
    {
        var limits = client.Context.Limits;
        var first = new FirstByteParser();
        var outcome = await PipePeek.PeekAsync(client.Reader, first, 1, limits.ClientHelloTimeout, ct).ConfigureAwait(false);
        if (outcome == PeekOutcome.Closed) return new(StreamKind.Closed, null, null, "client closed before sending anything");
        if (outcome == PeekOutcome.TimedOut) return new(StreamKind.Silent, null, null, null);

        if (first.Value == 0x16)
        {
            var hello = new ClientHelloParser(limits.MaxClientHelloBytes);
            outcome = await PipePeek.PeekAsync(client.Reader, hello, limits.MaxClientHelloBytes, limits.ClientHelloTimeout, ct).ConfigureAwait(false);
            return outcome switch
            {
                PeekOutcome.Done => new(StreamKind.Tls, hello.ServerName, null, null),
                PeekOutcome.Invalid => new(StreamKind.Bad, null, null, $"malformed TLS ClientHello: {hello.Error}"),
                PeekOutcome.TooLarge => new(StreamKind.Bad, null, null, "TLS ClientHello larger than the limit"),
                PeekOutcome.TimedOut => new(StreamKind.Bad, null, null, "incomplete TLS ClientHello within the time limit"),
                _ => new(StreamKind.Bad, null, null, "truncated TLS ClientHello: the client closed mid-way"),
            };
        }
        if (char.IsAsciiLetterUpper((char)first.Value))
        {
            var parser = new HttpHeadParser(isRequest: true);
            outcome = await PipePeek.PeekAsync(client.Reader, parser, limits.MaxHeadBytes, limits.HeadTimeout, ct).ConfigureAwait(false);
            if (outcome == PeekOutcome.Done)
            {
                var host = parser.Head!.Get("Host");
                if (parser.Head.Count("Host") != 1 || host is null || !TryHostOfAuthority(host, out var name))
                    return new(StreamKind.Bad, null, parser.Head, "HTTP request without exactly one valid Host header");
                return new(StreamKind.Http, name, parser.Head, null);
            }
            if (outcome == PeekOutcome.TooLarge) return new(StreamKind.Bad, null, null, $"HTTP request head larger than {limits.MaxHeadBytes} bytes");
        }
        return new(StreamKind.Opaque, null, null, null);
    }

    /// <summary>The normalized host of "host", "host:port", "[v6]" or "[v6]:port"; an IP literal yields its canonical text.</summary>
    public static bool TryHostOfAuthority(string authority, out string host)
    {
        host = "";
        string hostPart;
        if (authority.StartsWith('['))
        {
            var close = authority.IndexOf(']');
            if (close < 0) return false;
            hostPart = authority[..(close + 1)];
            var rest = authority[(close + 1)..];
            if (rest.Length > 0 && (rest[0] != ':' || !rest[1..].All(char.IsAsciiDigit))) return false;
        }
        else
        {
            var colon = authority.LastIndexOf(':');
            hostPart = colon >= 0 ? authority[..colon] : authority;
            if (colon >= 0 && !authority[(colon + 1)..].All(char.IsAsciiDigit)) return false;
        }
        if (!Policy.Compilation.Destination.TryParse(hostPart, out var d, out _)) return false;
        host = d.Host ?? IpBits.Canonical(d.Address!).ToString();
        return true;
    }
}

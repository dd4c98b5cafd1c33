using System.Net.Security;
using System.Net.Sockets;
using System.Text;

namespace Corral.Interception.Tests;

/// <summary>
/// A hand-built HTTP/2 client for attack tests: frames and HPACK blocks written byte by byte (literal fields, no
/// Huffman), so a test can send what no well-behaved client would. Only tests build frames; the gateway never does.
/// </summary>
internal sealed class H2Wire : IAsyncDisposable
{
    public const byte Data = 0, Headers = 1, RstStream = 3, Settings = 4, Ping = 6, GoAway = 7, WindowUpdate = 8, Continuation = 9;
    public const byte EndStream = 1, EndHeaders = 4;

    private readonly SslStream _tls;
    private H2Wire(SslStream tls) => _tls = tls;

    /// <summary>TLS through the fixture with ALPN h2 only; fails unless the gateway chose h2. Sends the preface and empty SETTINGS.</summary>
    public static async Task<H2Wire> ConnectAsync(InterceptionFixture f, string serverName)
    {
        var client = new TcpClient();
        await client.ConnectAsync(System.Net.IPAddress.Loopback, f.FrontPort);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(serverName + "\n"));
        var tls = new SslStream(stream, false);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = serverName,
            CertificateChainPolicy = InterceptionFixture.TrustOnly(f.InterceptionCa.Certificate),
            ApplicationProtocols = [SslApplicationProtocol.Http2],
        });
        Assert.Equal(SslApplicationProtocol.Http2, tls.NegotiatedApplicationProtocol);
        var wire = new H2Wire(tls);
        await wire.SendAsync([.. "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8, .. Frame(Settings, 0, 0, [])]);
        return wire;
    }

    public async Task SendAsync(byte[] bytes)
    {
        await _tls.WriteAsync(bytes);
        await _tls.FlushAsync();
    }

    public static byte[] Frame(byte type, byte flags, int stream, ReadOnlySpan<byte> payload)
    {
        var frame = new byte[9 + payload.Length];
        frame[0] = (byte)(payload.Length >> 16);
        frame[1] = (byte)(payload.Length >> 8);
        frame[2] = (byte)payload.Length;
        frame[3] = type;
        frame[4] = flags;
        frame[5] = (byte)((stream >> 24) & 0x7F);
        frame[6] = (byte)(stream >> 16);
        frame[7] = (byte)(stream >> 8);
        frame[8] = (byte)stream;
        payload.CopyTo(frame.AsSpan(9));
        return frame;
    }

    /// <summary>An HPACK integer with an n-bit prefix, the prefix's other bits given.</summary>
    public static byte[] Integer(int value, int prefixBits, byte flags = 0)
    {
        var max = (1 << prefixBits) - 1;
        if (value < max) return [(byte)(flags | value)];
        var bytes = new List<byte> { (byte)(flags | max) };
        value -= max;
        while (value >= 128)
        {
            bytes.Add((byte)(value % 128 + 128));
            value /= 128;
        }
        bytes.Add((byte)value);
        return [.. bytes];
    }

    private static byte[] String(string s) => [.. Integer(s.Length, 7), .. Encoding.Latin1.GetBytes(s)];

    /// <summary>A literal field without indexing, new name.</summary>
    public static byte[] Literal(string name, string value) => [0x00, .. String(name), .. String(value)];

    /// <summary>A literal field with incremental indexing (it enters the dynamic table), new name.</summary>
    public static byte[] Indexed(string name, string value) => [0x40, .. String(name), .. String(value)];

    /// <summary>A reference to a table entry (62 is the newest dynamic entry).</summary>
    public static byte[] Reference(int index) => Integer(index, 7, 0x80);

    /// <summary>A request's header block: the pseudo-fields, then <paramref name="extra"/>.</summary>
    public static byte[] Request(string method, string authority, string path, params (string Name, string Value)[] extra)
    {
        var block = new List<byte>();
        block.AddRange(Literal(":method", method));
        block.AddRange(Literal(":scheme", "https"));
        block.AddRange(Literal(":authority", authority));
        block.AddRange(Literal(":path", path));
        foreach (var (name, value) in extra) block.AddRange(Literal(name, value));
        return [.. block];
    }

    public readonly record struct Received(byte Type, byte Flags, int Stream, byte[] Payload);

    /// <summary>The next frame, or null when the gateway closed the connection (or nothing came in time).</summary>
    public async Task<Received?> ReadAsync(TimeSpan within)
    {
        using var timeout = new CancellationTokenSource(within);
        try
        {
            var head = new byte[9];
            await _tls.ReadExactlyAsync(head, timeout.Token);
            var length = head[0] << 16 | head[1] << 8 | head[2];
            var payload = new byte[length];
            await _tls.ReadExactlyAsync(payload, timeout.Token);
            return new Received(head[3], head[4], (head[5] & 0x7F) << 24 | head[6] << 16 | head[7] << 8 | head[8], payload);
        }
        catch (Exception e) when (e is EndOfStreamException or IOException or OperationCanceledException or ObjectDisposedException)
        {
            return null;
        }
    }

    /// <summary>Frames until <paramref name="done"/> says so or the connection ends; SETTINGS are acknowledged.</summary>
    public async Task<List<Received>> ReadUntilAsync(Func<List<Received>, bool> done, TimeSpan within)
    {
        var frames = new List<Received>();
        var until = DateTime.UtcNow + within;
        while (DateTime.UtcNow < until)
        {
            if (await ReadAsync(until - DateTime.UtcNow) is not { } frame) break;
            frames.Add(frame);
            if (frame.Type == Settings && (frame.Flags & 1) == 0)
            {
                try { await SendAsync(Frame(Settings, 1, 0, [])); } catch (IOException) { break; }
            }
            if (done(frames)) break;
        }
        return frames;
    }

    /// <summary>The DATA a stream received, as text.</summary>
    public static string Body(List<Received> frames, int stream) =>
        Encoding.UTF8.GetString([.. frames.Where(f => f.Type == Data && f.Stream == stream).SelectMany(f => f.Payload)]);

    public static bool Ended(List<Received> frames, int stream) =>
        frames.Any(f => f.Stream == stream && ((f.Type is Data or Headers && (f.Flags & EndStream) != 0) || f.Type == RstStream));

    public static bool GoneAway(List<Received> frames) => frames.Any(f => f.Type == GoAway);

    public ValueTask DisposeAsync() => _tls.DisposeAsync();
}

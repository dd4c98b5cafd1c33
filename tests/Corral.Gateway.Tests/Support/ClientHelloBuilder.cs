using System.Text;

namespace Corral.Gateway.Tests.Support;

/// <summary>Builds TLS ClientHello bytes by hand, so tests can split, truncate or corrupt them precisely.</summary>
public static class ClientHelloBuilder
{
    /// <summary>The handshake message (type 1 + 24-bit length + body) with an optional SNI, padding, ALPN and ECH extension.</summary>
    /// <param name="alpn">Protocols offered in ALPN (none: no extension).</param>
    /// <param name="ech">An encrypted_client_hello extension (0xfe0d) of this many bytes of (GREASE-like) payload.</param>
    public static byte[] Handshake(string? sni, int padding = 0, string[]? alpn = null, int ech = 0)
    {
        var body = new List<byte> { 0x03, 0x03 };
        body.AddRange(new byte[32]);          // random
        body.Add(0);                           // session id
        body.AddRange([0x00, 0x02, 0x13, 0x01]); // one cipher suite
        body.AddRange([0x01, 0x00]);           // null compression
        var extensions = new List<byte>();
        if (sni is not null)
        {
            var name = Encoding.ASCII.GetBytes(sni);
            var list = new List<byte> { 0 };
            list.AddRange(U16(name.Length));
            list.AddRange(name);
            var ext = new List<byte>();
            ext.AddRange(U16(list.Count));
            ext.AddRange(list);
            extensions.AddRange(U16(0));
            extensions.AddRange(U16(ext.Count));
            extensions.AddRange(ext);
        }
        if (alpn is not null)
        {
            var list = new List<byte>();
            foreach (var p in alpn) list.AddRange([(byte)p.Length, .. Encoding.ASCII.GetBytes(p)]);
            extensions.AddRange(U16(16));
            extensions.AddRange(U16(list.Count + 2));
            extensions.AddRange(U16(list.Count));
            extensions.AddRange(list);
        }
        if (ech > 0)
        {
            // ECHClientHello, outer: type 0, a cipher suite, a config id, an encapsulated key and a payload (all made up).
            var outer = new List<byte> { 0, 0x00, 0x01, 0x00, 0x01, 0x2a };
            outer.AddRange(U16(32));
            outer.AddRange(new byte[32]);
            outer.AddRange(U16(ech));
            outer.AddRange(Enumerable.Range(0, ech).Select(i => (byte)i));
            extensions.AddRange(U16(0xfe0d));
            extensions.AddRange(U16(outer.Count));
            extensions.AddRange(outer);
        }
        if (padding > 0)
        {
            extensions.AddRange(U16(21));
            extensions.AddRange(U16(padding));
            extensions.AddRange(new byte[padding]);
        }
        body.AddRange(U16(extensions.Count));
        body.AddRange(extensions);
        return [0x01, (byte)(body.Count >> 16), (byte)(body.Count >> 8), (byte)body.Count, .. body];
    }

    /// <summary>The handshake cut into TLS records of at most recordSize bytes each.</summary>
    public static byte[] Records(byte[] handshake, int recordSize = 16384)
    {
        var output = new List<byte>();
        for (var i = 0; i < handshake.Length; i += recordSize)
        {
            var n = Math.Min(recordSize, handshake.Length - i);
            output.AddRange([0x16, 0x03, 0x01]);
            output.AddRange(U16(n));
            output.AddRange(handshake.AsSpan(i, n).ToArray());
        }
        return [.. output];
    }

    public static byte[] Hello(string? sni, int recordSize = 16384, int padding = 0) => Records(Handshake(sni, padding), recordSize);

    /// <summary>A ServerHello handshake message: a HelloRetryRequest (TLS 1.3), a TLS 1.3 ServerHello, or a TLS 1.2 one.</summary>
    public static byte[] ServerHello(bool retry, bool tls13)
    {
        var body = new List<byte> { 0x03, 0x03 };
        body.AddRange(retry ? Convert.FromHexString("CF21AD74E59A6111BE1D8C021E65B891C2A211167ABB8C5E079E09E2C8A8339C") : new byte[32]);
        body.Add(0);
        body.AddRange(tls13 ? [0x13, 0x01] : [0xc0, 0x2f]);
        body.Add(0);
        if (tls13) body.AddRange([0x00, 0x06, 0x00, 0x2b, 0x00, 0x02, 0x03, 0x04]); // supported_versions: TLS 1.3
        return [0x02, (byte)(body.Count >> 16), (byte)(body.Count >> 8), (byte)body.Count, .. body];
    }

    /// <summary>One TLS record of the given type.</summary>
    public static byte[] Record(byte type, byte[] payload) => [type, 0x03, 0x03, .. U16(payload.Length), .. payload];

    private static byte[] U16(int v) => [(byte)(v >> 8), (byte)v];
}

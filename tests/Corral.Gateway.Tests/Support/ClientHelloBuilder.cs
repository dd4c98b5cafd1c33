using System.Text;

namespace Corral.Gateway.Tests.Support;

/// <summary>Builds TLS ClientHello bytes by hand, so tests can split, truncate or corrupt them precisely.</summary>
public static class ClientHelloBuilder
{
    /// <summary>The handshake message (type 1 + 24-bit length + body) with an optional SNI and padding extension.</summary>
    public static byte[] Handshake(string? sni, int padding = 0)
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

    private static byte[] U16(int v) => [(byte)(v >> 8), (byte)v];
}

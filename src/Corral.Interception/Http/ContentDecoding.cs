using System.IO.Compression;

namespace Corral.Interception.Http;

/// <summary>
/// Undoes a request body's content codings (gzip, deflate, br) so payload inspection sees the data a server will,
/// within a bound: a coding it does not know, a body that does not decode, or one that decodes past the bound is
/// refused (415 or 413), because an uninspectable body on an inspected flow must not pass.
/// </summary>
internal static class ContentDecoding
{
    /// <summary>The content codings a message's Content-Encoding lists, in the order applied (identity left out): the one reading of the field.</summary>
    public static List<string> CodingsOf(IReadOnlyList<HttpHeader> headers) =>
        HttpHeaders.Values(headers, "Content-Encoding").SelectMany(v => v.Split(','))
            .Select(t => t.Trim().ToLowerInvariant()).Where(t => t.Length > 0 && t != "identity").ToList();

    /// <param name="codings">As listed in Content-Encoding, in the order they were applied.</param>
    public static byte[] Decode(byte[] data, IReadOnlyList<string> codings, int limit)
    {
        for (var i = codings.Count - 1; i >= 0; i--)
            data = DecodeOne(data, codings[i], limit);
        return data;
    }

    private static byte[] DecodeOne(byte[] data, string coding, int limit)
    {
        try
        {
            return coding switch
            {
                "gzip" or "x-gzip" => Inflate(new GZipStream(new MemoryStream(data), CompressionMode.Decompress), limit),
                // "deflate" is the zlib format (RFC 9110 section 8.4.1.2); some clients send raw deflate: accept both.
                "deflate" => TryZlib(data, limit) ?? Inflate(new DeflateStream(new MemoryStream(data), CompressionMode.Decompress), limit),
                "br" => Inflate(new BrotliStream(new MemoryStream(data), CompressionMode.Decompress), limit),
                _ => throw new HttpMessageRefusedException(415, $"content coding '{Refusal.Printable(coding)}' cannot be inspected"),
            };
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            throw new HttpMessageRefusedException(415, $"the body does not decode as '{coding}': {e.Message}");
        }
    }

    private static byte[]? TryZlib(byte[] data, int limit)
    {
        try { return Inflate(new ZLibStream(new MemoryStream(data), CompressionMode.Decompress), limit); }
        catch (InvalidDataException) { return null; }
    }

    private static byte[] Inflate(Stream decoder, int limit)
    {
        using (decoder)
        {
            var output = new MemoryStream();
            var buffer = new byte[16 * 1024];
            int read;
            while ((read = decoder.Read(buffer)) > 0)
            {
                if (output.Length + read > limit) throw new HttpMessageRefusedException(413, $"the body decodes to more than {limit} bytes, past what can be inspected");
                output.Write(buffer, 0, read);
            }
            return output.ToArray();
        }
    }
}

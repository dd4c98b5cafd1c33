using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using Corral.Policy.Inspection;

namespace Corral.Interception.Http;

/// <summary>
/// Moves one message body from a reader to a stream exactly as its framing says, optionally showing each piece of
/// decoded body data to a payload scan before that piece is written.
/// </summary>
internal static class BodyCopier
{
    private const int MaxChunkLine = 4096;

    /// <summary>Thrown when a scan finds a secret; nothing of the piece that completed it has been written.</summary>
    public sealed class SecretFoundException(string pattern) : Exception($"payload matched '{pattern}'")
    {
        public string Pattern { get; } = pattern;
    }

    /// <param name="dataSink">Also receives the body's data (without chunk framing), e.g. to decode it.</param>
    public static async Task<long> CopyAsync(PipeReader source, Stream destination, BodyFraming framing, long length,
        PayloadInspector.StreamScan? scan, CancellationToken ct, Stream? dataSink = null) => framing switch
    {
        BodyFraming.None => 0,
        BodyFraming.ContentLength => await CopyExactAsync(source, destination, length, scan, ct, dataSink),
        BodyFraming.Chunked => await CopyChunkedAsync(source, destination, scan, ct, dataSink),
        _ => await CopyToEndAsync(source, destination, ct),
    };

    public static async Task<long> CopyExactAsync(PipeReader source, Stream destination, long length, PayloadInspector.StreamScan? scan, CancellationToken ct,
        Stream? dataSink = null)
    {
        var remaining = length;
        while (remaining > 0)
        {
            var result = await source.ReadAsync(ct);
            var buffer = result.Buffer;
            if (buffer.IsEmpty && result.IsCompleted) throw new HttpMessageRefusedException(400, "body ended before its Content-Length");
            var take = buffer.Slice(0, Math.Min(buffer.Length, remaining));
            try
            {
                await WriteScannedAsync(take, destination, scan, ct);
                if (dataSink is not null) foreach (var segment in take) await dataSink.WriteAsync(segment, ct);
            }
            finally
            {
                // Consumed even when a scan or a bound stops the copy, so the reader can still drain what follows.
                source.AdvanceTo(take.End);
            }
            remaining -= take.Length;
        }
        return length;
    }

    public static async Task<long> CopyToEndAsync(PipeReader source, Stream destination, CancellationToken ct)
    {
        long total = 0;
        while (true)
        {
            var result = await source.ReadAsync(ct);
            foreach (var segment in result.Buffer) await destination.WriteAsync(segment, ct);
            total += result.Buffer.Length;
            source.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted) return total;
        }
    }

    // Chunked framing is parsed strictly and forwarded as received. Chunk data is scanned as one stream, so chunk-size
    // lines cannot split a secret into pieces that no single scan sees; chunk extensions and trailers, which a server
    // may read too, are scanned apart.
    public static async Task<long> CopyChunkedAsync(PipeReader source, Stream destination, PayloadInspector.StreamScan? scan, CancellationToken ct,
        Stream? dataSink = null)
    {
        long total = 0;
        while (true)
        {
            var line = await ReadLineAsync(source, ct);
            var text = Encoding.Latin1.GetString(line);
            var semicolon = text.IndexOf(';');
            var sizeText = (semicolon >= 0 ? text[..semicolon] : text).TrimEnd(' ', '\t');
            if (sizeText.Length is 0 or > 15 || !sizeText.All(char.IsAsciiHexDigit))
                throw new HttpMessageRefusedException(400, "malformed chunk size");
            var size = Convert.ToInt64(sizeText, 16);
            if (semicolon >= 0 && scan?.ScanApart(line.AsSpan(semicolon)) is { } inExtension) throw new SecretFoundException(inExtension);
            await destination.WriteAsync(Encoding.Latin1.GetBytes(text + "\r\n"), ct);
            total += line.Length + 2;
            if (size == 0)
            {
                // Trailers, then the empty line that ends the message.
                while (true)
                {
                    var trailer = await ReadLineAsync(source, ct);
                    if (scan?.ScanApart(trailer) is { } inTrailer) throw new SecretFoundException(inTrailer);
                    await destination.WriteAsync(Encoding.Latin1.GetBytes(Encoding.Latin1.GetString(trailer) + "\r\n"), ct);
                    total += trailer.Length + 2;
                    if (trailer.Length == 0) return total;
                }
            }
            total += await CopyExactAsync(source, destination, size, scan, ct, dataSink);
            var end = await ReadLineAsync(source, ct);
            if (end.Length != 0) throw new HttpMessageRefusedException(400, "chunk data longer than its size");
            await destination.WriteAsync("\r\n"u8.ToArray(), ct);
            total += 2;
        }
    }

    /// <summary>Reads one CRLF-terminated line (without the CRLF), bounded.</summary>
    public static async Task<byte[]> ReadLineAsync(PipeReader source, CancellationToken ct)
    {
        while (true)
        {
            var result = await source.ReadAsync(ct);
            var reader = new SequenceReader<byte>(result.Buffer);
            if (reader.TryReadTo(out ReadOnlySequence<byte> line, "\r\n"u8, advancePastDelimiter: true))
            {
                var bytes = line.ToArray();
                source.AdvanceTo(reader.Position);
                if (Array.IndexOf(bytes, (byte)'\n') >= 0 || Array.IndexOf(bytes, (byte)'\r') >= 0)
                    throw new HttpMessageRefusedException(400, "bare CR or LF in chunk framing");
                return bytes;
            }
            if (result.Buffer.Length > MaxChunkLine) throw new HttpMessageRefusedException(400, "chunk line too long");
            if (result.IsCompleted) throw new HttpMessageRefusedException(400, "message ended inside chunk framing");
            source.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }

    private static async Task WriteScannedAsync(ReadOnlySequence<byte> data, Stream destination, PayloadInspector.StreamScan? scan, CancellationToken ct)
    {
        if (scan is not null)
        {
            var found = data.IsSingleSegment ? scan.Feed(data.FirstSpan) : scan.Feed(data.ToArray());
            if (found is not null) throw new SecretFoundException(found);
        }
        foreach (var segment in data) await destination.WriteAsync(segment, ct);
    }
}

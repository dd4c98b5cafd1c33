using System.Buffers;
using System.IO.Pipelines;
using Corral.Gateway.Proxy;

namespace Corral.Gateway.Http;

/// <summary>How the end of an HTTP message body is found.</summary>
internal enum BodyKind { None, ContentLength, Chunked, UntilClose }

/// <summary>The body framing of one message.</summary>
internal readonly record struct BodyFraming(BodyKind Kind, long Length)
{
    /// <summary>Request framing per RFC 9112 §6; conflicting or unknown framing is an error (smuggling risk), never guessed.</summary>
    public static bool TryForRequest(HttpHead head, out BodyFraming framing, out string? error)
    {
        if (!TryCommon(head, out framing, out error)) return false;
        if (framing.Kind == BodyKind.UntilClose) { error = "request body framing is neither chunked nor Content-Length"; return false; }
        return true;
    }

    /// <summary>Response framing; a response to HEAD, 1xx, 204 and 304 has no body.</summary>
    public static bool TryForResponse(HttpHead head, string requestMethod, out BodyFraming framing, out string? error)
    {
        var status = int.Parse(head.Second);
        if (requestMethod == "HEAD" || status is >= 100 and < 200 or 204 or 304)
        {
            framing = new(BodyKind.None, 0);
            error = null;
            return true;
        }
        if (!TryCommon(head, out framing, out error)) return false;
        if (framing.Kind == BodyKind.None && head.Count("Content-Length") == 0) framing = new(BodyKind.UntilClose, 0);
        return true;
    }

    private static bool TryCommon(HttpHead head, out BodyFraming framing, out string? error)
    {
        framing = new(BodyKind.None, 0);
        error = null;
        var te = head.Count("Transfer-Encoding");
        var cl = head.Count("Content-Length");
        if (te > 0 && cl > 0) { error = "both Transfer-Encoding and Content-Length"; return false; }
        if (te > 0)
        {
            var codings = string.Join(",", head.Headers.Where(h => h.Key.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase)).Select(h => h.Value))
                .Split(',').Select(s => s.Trim()).Where(s => s.Length > 0).ToArray();
            if (codings.Length == 0 || !codings[^1].Equals("chunked", StringComparison.OrdinalIgnoreCase))
            {
                framing = new(BodyKind.UntilClose, 0);
                return true;
            }
            framing = new(BodyKind.Chunked, 0);
            return true;
        }
        if (cl > 0)
        {
            var values = head.Headers.Where(h => h.Key.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)).Select(h => h.Value).Distinct().ToArray();
            if (values.Length != 1 || values[0].Length is 0 or > 18 || !values[0].All(char.IsAsciiDigit)) { error = "malformed Content-Length"; return false; }
            var length = long.Parse(values[0]);
            framing = new(length == 0 ? BodyKind.None : BodyKind.ContentLength, length);
        }
        return true;
    }
}

/// <summary>Copies one message body from a pipe to a stream as it is framed, bytes untouched; returns the byte count.</summary>
internal static class HttpBody
{
    private const int MaxChunkLine = 4096;

    public static async ValueTask<long> CopyAsync(PipeReader source, Stream destination, BodyFraming framing, IdleGuard idle)
    {
        var ct = idle.Token;
        switch (framing.Kind)
        {
            case BodyKind.None: return 0;
            case BodyKind.ContentLength: return await CopyExactlyAsync(source, destination, framing.Length, idle).ConfigureAwait(false);
            case BodyKind.UntilClose:
                long total = 0;
                while (true)
                {
                    var result = await source.ReadAsync(ct).ConfigureAwait(false);
                    foreach (var segment in result.Buffer) { await destination.WriteAsync(segment, ct).ConfigureAwait(false); total += segment.Length; }
                    source.AdvanceTo(result.Buffer.End);
                    idle.Touch();
                    if (result.IsCompleted) return total;
                }
            default: return await CopyChunkedAsync(source, destination, idle).ConfigureAwait(false);
        }
    }

    private static async ValueTask<long> CopyExactlyAsync(PipeReader source, Stream destination, long length, IdleGuard idle)
    {
        var ct = idle.Token;
        var left = length;
        while (left > 0)
        {
            var result = await source.ReadAsync(ct).ConfigureAwait(false);
            var buffer = result.Buffer;
            if (buffer.IsEmpty && result.IsCompleted) throw new IOException("body ended early");
            var take = buffer.Slice(0, Math.Min(left, buffer.Length));
            foreach (var segment in take) await destination.WriteAsync(segment, ct).ConfigureAwait(false);
            left -= take.Length;
            source.AdvanceTo(take.End);
            idle.Touch();
        }
        return length;
    }

    private static async ValueTask<long> CopyChunkedAsync(PipeReader source, Stream destination, IdleGuard idle)
    {
        var ct = idle.Token;
        long total = 0;
        while (true)
        {
            var line = await CopyLineAsync(source, destination, ct).ConfigureAwait(false);
            total += line.Length + 2;
            var semi = line.IndexOf(';');
            var hex = (semi >= 0 ? line[..semi] : line).Trim();
            if (hex.Length is 0 or > 15 || !long.TryParse(hex, System.Globalization.NumberStyles.AllowHexSpecifier, null, out var size) || size < 0)
                throw new InvalidDataException("malformed chunk size");
            if (size == 0)
            {
                // Trailers, then the blank line that ends the message.
                while (true)
                {
                    var trailer = await CopyLineAsync(source, destination, ct).ConfigureAwait(false);
                    total += trailer.Length + 2;
                    if (trailer.Length == 0) return total;
                }
            }
            total += await CopyExactlyAsync(source, destination, size + 2, idle).ConfigureAwait(false);
        }
    }

    /// <summary>Copies one CRLF-terminated line and returns it without the CRLF.</summary>
    private static async ValueTask<string> CopyLineAsync(PipeReader source, Stream destination, CancellationToken ct)
    {
        while (true)
        {
            var result = await source.ReadAsync(ct).ConfigureAwait(false);
            var buffer = result.Buffer;
            var position = buffer.PositionOf((byte)'\n');
            if (position is { } lf)
            {
                var withLf = buffer.Slice(0, buffer.GetPosition(1, lf));
                var bytes = withLf.ToArray();
                if (bytes.Length < 2 || bytes[^2] != '\r') throw new InvalidDataException("chunk line without CRLF");
                await destination.WriteAsync(bytes, ct).ConfigureAwait(false);
                source.AdvanceTo(withLf.End);
                return System.Text.Encoding.Latin1.GetString(bytes, 0, bytes.Length - 2);
            }
            if (buffer.Length > MaxChunkLine) throw new InvalidDataException("chunk line too long");
            if (result.IsCompleted) throw new IOException("body ended early");
            source.AdvanceTo(buffer.Start, buffer.End);
        }
    }
}

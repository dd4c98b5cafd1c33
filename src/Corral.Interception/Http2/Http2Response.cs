using System.Buffers;
using System.IO.Pipelines;
using Corral.Interception.Http;
using Microsoft.AspNetCore.Http;

namespace Corral.Interception.Http2;

/// <summary>
/// Carries what the stages answer one stream (the upstream's response as relayed, or a refusal; HTTP/1.1 either way)
/// onto the stream as an HTTP/2 response: the status, the fields less those about the HTTP/1.1 hop, the body unframed.
/// </summary>
internal static class Http2Response
{
    private static readonly HashSet<string> HopOnly = new(StringComparer.OrdinalIgnoreCase)
        { "Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade", "TE", "Trailer" };

    public static async Task RelayAsync(PipeReader answer, HttpContext context, HttpLimits limits, CancellationToken ct)
    {
        try
        {
            HttpResponseHead head;
            while (true)
            {
                if (await ReadHeadAsync(answer, limits, ct) is not { } bytes)
                {
                    context.Abort(); // the stages ended without an answer (the client went away, or the upstream mid-response)
                    return;
                }
                head = Http1Parser.ParseResponse(bytes, limits, context.Request.Method);
                if (head.Status is >= 200 or 101) break; // interim answers (100 Continue) are Kestrel's on this hop
            }
            var response = context.Response;
            response.StatusCode = head.Status;
            var named = HttpHeaders.Values(head.Headers, "Connection")
                .SelectMany(v => v.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
                .ToHashSet(StringComparer.OrdinalIgnoreCase);
            foreach (var field in head.Headers)
                if (!HopOnly.Contains(field.Name) && !named.Contains(field.Name)) response.Headers.Append(field.Name, field.Value);
            switch (head.Framing)
            {
                case BodyFraming.ContentLength:
                    await BodyCopier.CopyExactAsync(answer, response.Body, head.ContentLength, null, ct);
                    break;
                case BodyFraming.Chunked:
                    await BodyCopier.CopyChunkedAsync(answer, Stream.Null, null, ct, response.Body);
                    break;
                case BodyFraming.UntilClose:
                    await BodyCopier.CopyToEndAsync(answer, response.Body, ct);
                    break;
            }
            await response.CompleteAsync();
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or HttpMessageRefusedException or InvalidOperationException)
        {
            context.Abort(); // a response cut short is reset, never ended as if whole
        }
        finally
        {
            await answer.CompleteAsync();
        }
    }

    private static async Task<ReadOnlySequence<byte>?> ReadHeadAsync(PipeReader reader, HttpLimits limits, CancellationToken ct)
    {
        while (true)
        {
            var result = await reader.ReadAsync(ct);
            var buffer = result.Buffer;
            if (Http1Parser.TryReadHead(buffer, limits, out var head, out var after))
            {
                var copy = new ReadOnlySequence<byte>(head.ToArray());
                reader.AdvanceTo(after);
                return copy;
            }
            if (result.IsCompleted)
            {
                reader.AdvanceTo(buffer.End);
                return null;
            }
            reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }
}

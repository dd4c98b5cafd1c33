using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace Corral.Gateway.Tests.Support;

/// <summary>
/// An OTLP trace receiver on loopback, as a collector would be: <c>POST /v1/traces</c> (OTLP/HTTP, protobuf) or the
/// gRPC <c>TraceService/Export</c> method over cleartext HTTP/2. It keeps each request's content type and decodes its
/// <c>ExportTraceServiceRequest</c> with <see cref="OtlpDecoder"/>.
/// </summary>
internal sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly List<(string ContentType, byte[] Body)> _requests = [];

    private OtlpReceiver(WebApplication app) => _app = app;

    public Uri Endpoint { get; private set; } = null!;

    /// <param name="grpc">Serve gRPC (HTTP/2 only) instead of OTLP/HTTP (HTTP/1.1).</param>
    public static async Task<OtlpReceiver> StartAsync(bool grpc)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, o => o.Protocols = grpc ? HttpProtocols.Http2 : HttpProtocols.Http1));
        var app = builder.Build();
        var receiver = new OtlpReceiver(app);
        app.MapPost("/v1/traces", async context =>
        {
            receiver.Keep(context.Request.ContentType ?? "", await ReadAsync(context.Request));
            context.Response.ContentType = "application/x-protobuf";
            await context.Response.Body.WriteAsync(Array.Empty<byte>()); // an empty ExportTraceServiceResponse
        });
        app.MapPost("/opentelemetry.proto.collector.trace.v1.TraceService/Export", async context =>
        {
            // One length-prefixed message (flag byte, 4-byte big-endian length), uncompressed.
            var framed = await ReadAsync(context.Request);
            Assert.Equal(0, framed[0]);
            var length = (framed[1] << 24) | (framed[2] << 16) | (framed[3] << 8) | framed[4];
            receiver.Keep(context.Request.ContentType ?? "", framed[5..(5 + length)]);
            context.Response.ContentType = "application/grpc";
            await context.Response.Body.WriteAsync(new byte[5]); // an empty response message
            context.Response.AppendTrailer("grpc-status", "0");
        });
        await app.StartAsync();
        receiver.Endpoint = new Uri(app.Urls.First());
        return receiver;
    }

    private static async Task<byte[]> ReadAsync(HttpRequest request)
    {
        using var body = new MemoryStream();
        await request.Body.CopyToAsync(body);
        return body.ToArray();
    }

    private void Keep(string contentType, byte[] body)
    {
        lock (_requests) _requests.Add((contentType, body));
    }

    /// <summary>Every export received so far.</summary>
    public List<(string ContentType, byte[] Body)> Requests { get { lock (_requests) return [.. _requests]; } }

    /// <summary>Every span received so far, decoded.</summary>
    public List<OtlpSpan> Spans => Requests.SelectMany(r => OtlpDecoder.Spans(r.Body)).ToList();

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>A span as it arrived over OTLP, with its resource's attributes.</summary>
internal sealed record OtlpSpan(string Name, string TraceId, string SpanId, string ParentSpanId, int Kind, int StatusCode, string StatusMessage,
    Dictionary<string, string> Attributes, Dictionary<string, string> Resource);

/// <summary>
/// Reads an OTLP <c>ExportTraceServiceRequest</c> from the protobuf wire format (opentelemetry-proto's trace.proto,
/// common.proto and resource.proto field numbers): resource_spans → resource, scope_spans → spans → name, ids, kind,
/// attributes, status. Attribute values are read as text (string, bool, int, double).
/// </summary>
internal static class OtlpDecoder
{
    public static IEnumerable<OtlpSpan> Spans(byte[] request)
    {
        foreach (var resourceSpans in Messages(request, 1))
        {
            var resource = new Dictionary<string, string>();
            foreach (var r in Messages(resourceSpans, 1))
                foreach (var kv in Messages(r, 1)) Add(resource, kv);
            foreach (var scopeSpans in Messages(resourceSpans, 2))
                foreach (var span in Messages(scopeSpans, 2))
                    yield return Span(span, resource);
        }
    }

    private static OtlpSpan Span(byte[] span, Dictionary<string, string> resource)
    {
        string traceId = "", spanId = "", parent = "", name = "", message = "";
        int kind = 0, code = 0;
        var attributes = new Dictionary<string, string>();
        foreach (var (field, varint, bytes) in Fields(span))
            switch (field)
            {
                case 1: traceId = Convert.ToHexStringLower(bytes); break;
                case 2: spanId = Convert.ToHexStringLower(bytes); break;
                case 4: parent = Convert.ToHexStringLower(bytes); break;
                case 5: name = Encoding.UTF8.GetString(bytes); break;
                case 6: kind = (int)varint; break;
                case 9: Add(attributes, bytes); break;
                case 15:
                    foreach (var (f, v, b) in Fields(bytes))
                        if (f == 2) message = Encoding.UTF8.GetString(b);
                        else if (f == 3) code = (int)v;
                    break;
            }
        return new OtlpSpan(name, traceId, spanId, parent, kind, code, message, attributes, resource);
    }

    // KeyValue: key = 1, value = 2 (AnyValue: string 1, bool 2, int 3, double 4).
    private static void Add(Dictionary<string, string> into, byte[] keyValue)
    {
        string key = "", value = "";
        foreach (var (field, _, bytes) in Fields(keyValue))
            if (field == 1) key = Encoding.UTF8.GetString(bytes);
            else if (field == 2)
                foreach (var (f, v, b) in Fields(bytes))
                    value = f switch
                    {
                        1 => Encoding.UTF8.GetString(b),
                        2 => v != 0 ? "true" : "false",
                        3 => ((long)v).ToString(System.Globalization.CultureInfo.InvariantCulture),
                        4 => BitConverter.Int64BitsToDouble((long)v).ToString(System.Globalization.CultureInfo.InvariantCulture),
                        _ => value,
                    };
        into[key] = value;
    }

    private static IEnumerable<byte[]> Messages(byte[] message, int field) => Fields(message).Where(f => f.Field == field).Select(f => f.Bytes);

    /// <summary>Each field of a message: its number, its varint or fixed value, or its length-delimited bytes.</summary>
    private static List<(int Field, ulong Varint, byte[] Bytes)> Fields(byte[] message)
    {
        var fields = new List<(int, ulong, byte[])>();
        var i = 0;
        ulong Varint()
        {
            ulong value = 0;
            for (var shift = 0; ; shift += 7)
            {
                var b = message[i++];
                value |= (ulong)(b & 0x7f) << shift;
                if (b < 0x80) return value;
            }
        }
        while (i < message.Length)
        {
            var tag = Varint();
            var field = (int)(tag >> 3);
            switch (tag & 7)
            {
                case 0: fields.Add((field, Varint(), [])); break;
                case 1: fields.Add((field, BitConverter.ToUInt64(message, i), [])); i += 8; break;
                case 2:
                    var length = (int)Varint();
                    fields.Add((field, 0, message[i..(i + length)]));
                    i += length;
                    break;
                case 5: fields.Add((field, BitConverter.ToUInt32(message, i), [])); i += 4; break;
                default: throw new InvalidDataException($"wire type {tag & 7} at byte {i}: not a protobuf message");
            }
        }
        return fields;
    }
}

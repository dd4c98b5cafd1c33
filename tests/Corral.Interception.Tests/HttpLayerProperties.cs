using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using System.Text.RegularExpressions;
using CsCheck;
using Corral.Interception.Http;

namespace Corral.Interception.Tests;

/// <summary>
/// Two properties of the one HTTP/1.1 parser, bounded in count for CI. Hostile input: random request heads and bodies
/// built from the pieces smuggling is made of (odd line ends, folding, duplicate and malformed framing headers, chunk
/// extensions, trailers), checked against a reference framer written from RFC 9112's grammar: the parser never throws
/// anything but a refusal, and never accepts a message the reference would frame differently (head length, method,
/// target, framing, body length). Valid input: random well-formed requests inside the parser's documented strict
/// subset must be accepted and read back as generated (request line, every field in order, framing, body), so a parser
/// that refuses too much fails too.
/// </summary>
public sealed class HttpLayerProperties
{
    private static readonly string[] Methods = ["GET", "POST", "PUT", "CONNECT", "G ET", "get", "PO\tST", ""];
    private static readonly string[] Targets = ["/", "/a?b=c", "http://a.test/x", "a.test:443", "/a b", "/\u0001", "*", "//x"];
    private static readonly string[] Versions = ["HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "http/1.1", "HTTP/1.1 ", "HTTP/1"];
    private static readonly string[] Fields =
    [
        "Host: a.test", "Host: b.test", "Host:a.test", "Host : a.test", " Host: a.test", "Host: a.test ",
        "Content-Length: 5", "Content-Length: 05", "Content-Length: 5, 5", "Content-Length: +5", "Content-Length: -1", "Content-Length: 5 ",
        "Content-Length: 99999999999999999999", "content-length: 3", "Transfer-Encoding: chunked", "Transfer-Encoding: Chunked",
        "Transfer-Encoding: gzip, chunked", "Transfer-Encoding: chunked, gzip", "Transfer-Encoding: identity", "Transfer-Encoding:  chunked",
        "X-A: 1", "X-A:", "X-B: a\u0000b", "X-C: a\u007fb", "X-D: \ttab", "\tX-Fold: a", "X-Obs: a\r\n b", "NoColon", ": empty-name",
    ];
    private static readonly string[] LineEnds = ["\r\n", "\r\n", "\r\n", "\r\n", "\n", "\r"];
    private static readonly string[] Bodies = ["", "hello", "5\r\nhello\r\n0\r\n\r\n", "5;x=y\r\nhello\r\n0\r\nT: v\r\n\r\n", "5\r\nhelloXY0\r\n\r\n", "abc", "0\r\n\r\n"];

    private static Gen<T> Pick<T>(T[] choices) => Gen.Int[0, choices.Length - 1].Select(i => choices[i]);

    private static readonly Gen<string> GenMessage =
        Gen.Select(Gen.Int[0, 2], Pick(Methods), Pick(Targets), Pick(Versions), Pick(Fields).Array[0, 6], Pick(LineEnds), Pick(Bodies),
            (empties, method, target, version, fields, end, body) =>
            {
                var sb = new StringBuilder();
                for (var i = 0; i < empties; i++) sb.Append("\r\n");
                sb.Append(method).Append(' ').Append(target).Append(' ').Append(version).Append("\r\n");
                foreach (var f in fields) sb.Append(f).Append(end);
                sb.Append("\r\n").Append(body);
                return sb.ToString();
            });

    [Fact]
    public void The_parser_never_accepts_what_the_rfc_9112_reference_frames_differently()
    {
        GenMessage.Sample(text =>
        {
            var bytes = Encoding.Latin1.GetBytes(text);
            var reference = Rfc9112Reference.Frame(text);
            Framed? corral;
            try
            {
                corral = FrameWithCorral(bytes);
            }
            catch (HttpMessageRefusedException)
            {
                return; // refusing is always allowed: stricter than the RFC, never looser
            }
            if (corral is null) return; // incomplete: waits for more bytes
            Assert.True(reference is not null, $"accepted what RFC 9112 refuses: {Escape(text)}");
            Assert.True(corral == reference, $"framed differently: {corral} vs {reference}: {Escape(text)}");
        }, iter: 20_000, seed: null);
    }

    private const string TokenChars = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    private const string PathChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@%/?";
    private const string ValueChars = " \t!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~";
    private static readonly string[] FramingHeaders = ["host", "content-length", "transfer-encoding"];

    private static Gen<string> Token(int max) => Gen.String[Gen.Char[TokenChars], 1, max];

    private static readonly Gen<string> GenHost =
        Gen.Select(Gen.String[Gen.Char["abcdefghijklmnopqrstuvwxyz0123456789"], 1, 12], Gen.Bool, (label, port) => label + ".test" + (port ? ":8080" : ""));

    /// <summary>A field other than Host and framing: token name, a value of visible characters with inner spaces and tabs, random OWS around it.</summary>
    private static readonly Gen<(string Name, string Value, string Wire)> GenField =
        Gen.Select(Token(12), Gen.String[Gen.Char[ValueChars], 0, 24], Pick<string>(["", " ", "\t", "  "]), Pick<string>(["", " ", "\t"]), (name, raw, before, after) =>
        {
            if (FramingHeaders.Contains(name.ToLowerInvariant())) name = "X-" + name;
            var value = raw.Trim(' ', '\t');
            return (name, value, $"{name}:{before}{value}{after}");
        });

    private sealed record ValidRequest(byte[] Bytes, int HeadLength, string Method, string Target, string Version, string Host,
        IReadOnlyList<(string Name, string Value)> Fields, BodyFraming Framing, long ContentLength, byte[] Body, byte[] Data);

    private static readonly Gen<ValidRequest> GenValidRequest =
        Gen.Select(Gen.Int[0, 2], Gen.Select(Gen.Bool, Pick<string>(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]), Token(10), (common, name, token) => common ? name : token),
            Gen.Select(Gen.Bool, Gen.String[Gen.Char[PathChars], 0, 30], GenHost, (absolute, path, host) => absolute ? $"http://{host}/{path}" : "/" + path),
            Pick<string>(["HTTP/1.1", "HTTP/1.0"]), GenHost, GenField.Array[0, 8], Gen.Int[0, 2],
            Gen.Byte.Array[0, 64], Gen.Byte.Array[1, 20].Array[0, 4], Gen.Int[0, 7], Gen.Int[0, 1000], Gen.Int[0, 1000],
            (empties, method, target, version, host, fields, framing, body, chunks, variant, hostAt, framingAt) =>
                BuildValid(empties, method, target, version, host, fields, framing, body, chunks, variant, hostAt, framingAt));

    private static ValidRequest BuildValid(int empties, string method, string target, string version, string host, (string Name, string Value, string Wire)[] others,
        int framing, byte[] body, byte[][] chunks, int variant, int hostAt, int framingAt)
    {
        var fields = others.Select(f => (f.Name, f.Value, f.Wire)).ToList();
        var hostName = new[] { "Host", "host", "HOST" }[variant % 3];
        fields.Insert(hostAt % (fields.Count + 1), (hostName, host, $"{hostName}: {host}"));
        var (kind, length, wireBody, data) = framing switch
        {
            1 => (body.Length == 0 ? BodyFraming.None : BodyFraming.ContentLength, body.Length, body, body),
            2 => (BodyFraming.Chunked, 0L, ChunkedBody(chunks, variant), chunks.SelectMany(c => c).ToArray()),
            _ => (BodyFraming.None, 0L, Array.Empty<byte>(), Array.Empty<byte>()),
        };
        var framingField = framing switch
        {
            1 => ("Content-Length", length.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            2 => ("Transfer-Encoding", (variant & 1) == 0 ? "chunked" : "Chunked"),
            _ => default((string, string)?),
        };
        if (framingField is (string fieldName, string fieldValue)) fields.Insert(framingAt % (fields.Count + 1), (fieldName, fieldValue, $"{fieldName}: {fieldValue}"));
        var head = new StringBuilder();
        for (var i = 0; i < empties; i++) head.Append("\r\n");
        head.Append(method).Append(' ').Append(target).Append(' ').Append(version).Append("\r\n");
        foreach (var f in fields) head.Append(f.Wire).Append("\r\n");
        head.Append("\r\n");
        var headBytes = Encoding.Latin1.GetBytes(head.ToString());
        return new ValidRequest([.. headBytes, .. wireBody], headBytes.Length, method, target, version, host,
            fields.Select(f => (f.Name, f.Value)).ToList(), kind, length, wireBody, data);
    }

    /// <summary>Chunks with sizes in either hex case (some with leading zeros), some with an extension, and some with a trailer section.</summary>
    private static byte[] ChunkedBody(byte[][] chunks, int variant)
    {
        var wire = new List<byte>();
        foreach (var (chunk, i) in chunks.Select((c, i) => (c, i)))
        {
            var size = ((variant + i) % 3) switch { 0 => chunk.Length.ToString("x"), 1 => chunk.Length.ToString("X"), _ => "0" + chunk.Length.ToString("x") };
            var extension = (variant + i) % 4 == 0 ? ";name=value" : (variant + i) % 4 == 1 ? ";flag" : "";
            wire.AddRange(Encoding.Latin1.GetBytes($"{size}{extension}\r\n"));
            wire.AddRange(chunk);
            wire.AddRange("\r\n"u8.ToArray());
        }
        wire.AddRange(Encoding.Latin1.GetBytes(variant >= 4 ? "0\r\nX-Trailer: t\r\n\r\n" : "0\r\n\r\n"));
        return [.. wire];
    }

    [Fact]
    public void The_parser_accepts_every_valid_request_and_reads_it_back_as_generated()
    {
        GenValidRequest.Sample(r =>
        {
            var what = Escape(Encoding.Latin1.GetString(r.Bytes));
            var buffer = new ReadOnlySequence<byte>(r.Bytes);
            HttpRequestHead request;
            SequencePosition after;
            try
            {
                Assert.True(Http1Parser.TryReadHead(buffer, new HttpLimits(), out var head, out after), $"a whole head was taken as incomplete: {what}");
                request = Http1Parser.ParseRequest(head, new HttpLimits());
            }
            catch (HttpMessageRefusedException e)
            {
                Assert.Fail($"refused a valid request ({e.Status} {e.Message}): {what}");
                throw;
            }
            Assert.True(buffer.Slice(0, after).Length == r.HeadLength, $"head length {buffer.Slice(0, after).Length}, generated {r.HeadLength}: {what}");
            Assert.Equal((r.Method, r.Target, r.Version, r.Host), (request.Method, request.Target, request.Version, request.Host));
            Assert.Equal(r.Fields.ToArray(), request.Headers.Select(h => (h.Name, h.Value)).ToArray());
            Assert.Equal((r.Framing, r.ContentLength), (request.Framing, request.ContentLength));
            var rest = r.Bytes.AsMemory(r.HeadLength);
            if (r.Framing == BodyFraming.Chunked)
            {
                using var wire = new MemoryStream();
                using var data = new MemoryStream();
                var copied = BodyCopier.CopyChunkedAsync(PipeReader.Create(new ReadOnlySequence<byte>(rest)), wire, null, CancellationToken.None, data).GetAwaiter().GetResult();
                Assert.Equal(rest.Length, copied); // the whole body and nothing past it
                Assert.Equal(r.Body, wire.ToArray()); // forwarded as received
                Assert.Equal(r.Data, data.ToArray()); // the data the chunks carry
            }
            else Assert.Equal(r.Body, rest.ToArray());
        }, iter: 5_000, seed: null);
    }

    private sealed record Framed(int HeadLength, string Method, string Target, string Framing, long BodyLength);

    private static Framed? FrameWithCorral(byte[] bytes)
    {
        var buffer = new ReadOnlySequence<byte>(bytes);
        if (!Http1Parser.TryReadHead(buffer, new HttpLimits(), out var head, out var after)) return null;
        var request = Http1Parser.ParseRequest(head, new HttpLimits());
        var headLength = (int)buffer.Slice(0, after).Length;
        var rest = bytes.AsMemory(headLength);
        long bodyLength = request.Framing switch
        {
            BodyFraming.ContentLength => rest.Length >= request.ContentLength ? request.ContentLength : throw new HttpMessageRefusedException(400, "short"),
            BodyFraming.Chunked => CopyChunked(rest),
            _ => 0,
        };
        return new Framed(headLength, request.Method, request.Target, request.Framing is BodyFraming.None ? "none" : request.Framing.ToString().ToLowerInvariant(), bodyLength);
    }

    private static long CopyChunked(ReadOnlyMemory<byte> rest)
    {
        var reader = PipeReader.Create(new ReadOnlySequence<byte>(rest));
        return BodyCopier.CopyChunkedAsync(reader, Stream.Null, null, CancellationToken.None).GetAwaiter().GetResult();
    }

    private static string Escape(string s) => s.Replace("\r", "\\r").Replace("\n", "\\n").Replace("\t", "\\t").Replace("\0", "\\0");

    /// <summary>
    /// A reference framer from RFC 9112's ABNF and section 6.3, written apart from the parser under test: request-line,
    /// field lines (token ":" OWS value OWS, no obs-fold), empty lines before the request line, Host rules, and message
    /// body length. Null when the RFC says the message is invalid or incomplete.
    /// </summary>
    private static class Rfc9112Reference
    {
        private static readonly Regex RequestLine = new(@"^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([\x21-\x7e]+) (HTTP/[0-9]\.[0-9])$", RegexOptions.CultureInvariant);
        private static readonly Regex FieldLine = new(@"^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*((?:[\x21-\x7e\x80-\xff](?:[ \t\x21-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?)?)[ \t]*$", RegexOptions.CultureInvariant);

        public static Framed? Frame(string text)
        {
            var start = 0;
            while (text.AsSpan(start).StartsWith("\r\n")) start += 2;
            var end = text.IndexOf("\r\n\r\n", start, StringComparison.Ordinal);
            if (end < 0) return null;
            var lines = text[start..end].Split("\r\n");
            if (lines.Any(l => l.Contains('\r') || l.Contains('\n'))) return null;
            var m = RequestLine.Match(lines[0]);
            if (!m.Success || m.Groups[3].Value is not ("HTTP/1.1" or "HTTP/1.0")) return null;
            var fields = new List<(string Name, string Value)>();
            foreach (var line in lines.Skip(1))
            {
                var f = FieldLine.Match(line);
                if (!f.Success) return null;
                fields.Add((f.Groups[1].Value.ToLowerInvariant(), f.Groups[2].Value));
            }
            var method = m.Groups[1].Value;
            var target = m.Groups[2].Value;
            var hosts = fields.Count(f => f.Name == "host");
            // RFC 9112 section 3.2: a server responds 400 to an HTTP/1.1 request with no Host or more than one.
            if (hosts > 1 || (hosts == 0 && m.Groups[3].Value == "HTTP/1.1" && method != "CONNECT")) return null;
            var headLength = end + 4;
            var body = text[headLength..];

            // Section 6.3: Transfer-Encoding overrides Content-Length; chunked must be the final coding.
            var te = fields.Where(f => f.Name == "transfer-encoding").SelectMany(f => f.Value.Split(',')).Select(v => v.Trim().ToLowerInvariant()).ToList();
            var cl = fields.Where(f => f.Name == "content-length").Select(f => f.Value).ToList();
            if (te.Count > 0)
            {
                if (te[^1] != "chunked") return null; // a request whose final coding is not chunked: 400
                var length = ChunkedLength(body);
                return length is null ? null : new Framed(headLength, method, target, "chunked", length.Value);
            }
            if (cl.Count > 0)
            {
                var values = cl.SelectMany(v => v.Split(',')).Select(v => v.Trim()).Distinct().ToList();
                if (values.Count != 1 || values[0].Length == 0 || !values[0].All(char.IsAsciiDigit) || values[0].Length > 18) return null;
                var length = long.Parse(values[0]);
                if (body.Length < length) return null;
                return new Framed(headLength, method, target, length == 0 ? "none" : "contentlength", length);
            }
            return new Framed(headLength, method, target, "none", 0);
        }

        // chunked-body = *chunk last-chunk trailer-section CRLF (section 7.1)
        private static long? ChunkedLength(string body)
        {
            var at = 0;
            while (true)
            {
                var lineEnd = body.IndexOf("\r\n", at, StringComparison.Ordinal);
                if (lineEnd < 0) return null;
                var line = body[at..lineEnd];
                var size = line.Split(';')[0].TrimEnd(' ', '\t');
                if (size.Length == 0 || !size.All(char.IsAsciiHexDigit) || line.Contains('\n')) return null;
                var n = Convert.ToInt64(size, 16);
                at = lineEnd + 2;
                if (n == 0)
                {
                    while (true)
                    {
                        var trailerEnd = body.IndexOf("\r\n", at, StringComparison.Ordinal);
                        if (trailerEnd < 0) return null;
                        var trailer = body[at..trailerEnd];
                        at = trailerEnd + 2;
                        if (trailer.Length == 0) return at;
                        if (trailer.Contains('\n')) return null;
                    }
                }
                if (body.Length < at + n + 2 || body.Substring((int)(at + n), 2) != "\r\n") return null;
                at += (int)n + 2;
            }
        }
    }
}

using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using Corral.Interception.Http;

namespace Corral.Interception.Tests;

/// <summary>The one HTTP/1.1 layer on its own: head parsing, framing and the body copier, with the inputs smuggling is made of.</summary>
public sealed class HttpLayerTests
{
    private static readonly HttpLimits Limits = new();

    internal static HttpRequestHead? Parse(string text, out int consumed, out string? error)
    {
        consumed = 0;
        error = null;
        var buffer = new ReadOnlySequence<byte>(Encoding.Latin1.GetBytes(text));
        try
        {
            if (!Http1Parser.TryReadHead(buffer, Limits, out var head, out var after)) { error = "incomplete"; return null; }
            consumed = (int)buffer.Slice(0, after).Length;
            return Http1Parser.ParseRequest(head, Limits);
        }
        catch (HttpMessageRefusedException e)
        {
            error = e.Message;
            return null;
        }
    }

    [Theory]
    [InlineData("\r\nGET / HTTP/1.1\r\nHost: a.test\r\n\r\n", 2)]
    [InlineData("\r\n\r\nGET / HTTP/1.1\r\nHost: a.test\r\n\r\n", 4)]
    public void Empty_lines_before_the_request_line_are_part_of_the_message(string text, int skipped)
    {
        var head = Parse(text, out var consumed, out var error);
        var without = Parse(text[skipped..], out var consumedWithout, out _);
        Assert.Null(error);
        Assert.Equal((without!.Method, without.Target, without.Host, without.Headers.Count), (head!.Method, head.Target, head.Host, head.Headers.Count)); // the same request
        Assert.Equal(text.Length, consumed);               // and the empty lines consumed with it
        Assert.Equal(consumedWithout + skipped, consumed);
    }

    [Theory]
    [InlineData("GET / HTTP/1.1\nHost: a.test\n\n", "bare LF")]
    [InlineData("GET / HTTP/1.1\nHost: a.te", "bare LF")]                          // refused before the head is complete
    [InlineData("GET / HTTP/1.1\r\nHost: a.test\r\nX: a\r\n b\r\n\r\n", "folding")]
    [InlineData("GET / HTTP/1.1\r\nHost : a.test\r\n\r\n", "header name")]
    [InlineData("GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n", "more than one Host")]
    [InlineData("GET / HTTP/1.1\r\n\r\n", "missing Host")]
    [InlineData("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", "both Content-Length and Transfer-Encoding")]
    [InlineData("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", "more than one Content-Length")]
    [InlineData("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n", "malformed Content-Length")]
    [InlineData("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "unsupported Transfer-Encoding")]
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", "NUL")]
    [InlineData("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", "request line")]
    public void Ambiguous_heads_are_refused(string text, string why)
    {
        Assert.Null(Parse(text, out _, out var error));
        Assert.Contains(why, error, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void A_connect_and_an_http_1_0_absolute_form_request_may_omit_host()
    {
        Assert.NotNull(Parse("CONNECT a.test:443 HTTP/1.1\r\n\r\n", out _, out _));
        Assert.NotNull(Parse("GET http://a.test/ HTTP/1.0\r\n\r\n", out _, out _));
        Assert.Null(Parse("GET / HTTP/1.0\r\n\r\n", out _, out _));
    }

    [Theory]
    [InlineData("http://a.test/x?y=1", "a.test", "/x?y=1")]
    [InlineData("http://a.test", "a.test", "/")]
    [InlineData("http://a.test?q", "a.test", "/?q")]
    [InlineData("HTTP://a.test:8080/p#frag", "a.test:8080", "/p")]
    public void Absolute_targets_split_into_authority_and_origin_form(string target, string authority, string originForm)
    {
        Assert.True(HttpAuthority.TrySplitAbsolute(target, out _, out var a, out var o));
        Assert.Equal((authority, originForm), (a, o));
    }

    [Theory]
    [InlineData("/login?redirect_uri=https://x.api.example/cb")]
    [InlineData("/proxy/http://evil.test/")]
    [InlineData("ftp://a.test/")]
    public void A_scheme_inside_a_path_or_query_is_data_not_an_absolute_target(string target) =>
        Assert.False(HttpAuthority.TrySplitAbsolute(target, out _, out _, out _));

    [Theory]
    [InlineData("5\r\nhelloXY0\r\n\r\n", "longer than its size")]
    [InlineData("5\nhello\r\n0\r\n\r\n", "bare CR or LF")]
    [InlineData("z\r\nhello\r\n0\r\n\r\n", "chunk size")]
    [InlineData("5\r\nhel", "ended")]
    public async Task Chunk_framing_is_strict(string body, string why)
    {
        var reader = PipeReader.Create(new MemoryStream(Encoding.Latin1.GetBytes(body)));
        var e = await Assert.ThrowsAsync<HttpMessageRefusedException>(() => BodyCopier.CopyChunkedAsync(reader, Stream.Null, null, CancellationToken.None));
        Assert.Contains(why, e.Message);
    }

    [Fact]
    public async Task A_chunked_body_is_copied_as_framed_and_its_data_handed_on()
    {
        const string body = "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";
        var reader = PipeReader.Create(new MemoryStream(Encoding.Latin1.GetBytes(body + "NEXT")));
        var framed = new MemoryStream();
        var data = new MemoryStream();
        var copied = await BodyCopier.CopyAsync(reader, framed, BodyFraming.Chunked, 0, null, CancellationToken.None, data);
        Assert.Equal(body, Encoding.Latin1.GetString(framed.ToArray()));
        Assert.Equal(body.Length, copied);
        Assert.Equal("hello world", Encoding.Latin1.GetString(data.ToArray()));
    }

    [Fact]
    public void Refusals_share_one_shape()
    {
        var byRule = Encoding.ASCII.GetString(Refusal.ByRule("deny-x", "a.test:443", "matched rule 'deny-x'").ToHttpResponse());
        var byCheck = Encoding.ASCII.GetString(Refusal.ByCheck(GatewayCheck.NoSni, "a.test:443", "no SNI").ToHttpResponse());
        Assert.Contains("X-Corral-Rule: deny-x\r\n", byRule);
        Assert.Contains("X-Corral-Check: no-sni\r\n", byCheck);
        foreach (var text in new[] { byRule, byCheck })
        {
            var json = System.Text.Json.JsonDocument.Parse(text[(text.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..]).RootElement;
            Assert.Contains("Do not retry", json.GetProperty("advice").GetString());
            Assert.Equal("a.test:443", json.GetProperty("destination").GetString());
        }
    }
}

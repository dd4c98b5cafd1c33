using System.IO.Pipelines;
using Corral.Gateway.Sniffing;
using Corral.Gateway.Tests.Support;
using Corral.Gateway.Tls;

namespace Corral.Gateway.Tests;

/// <summary>SNI extraction: across TLS records and TCP segments, within bounds, never consuming the bytes.</summary>
public sealed class ClientHelloParserTests
{
    [Theory]
    [InlineData(16384, 1000)] // one record, one segment
    [InlineData(16384, 1)]    // one record, byte-by-byte segments
    [InlineData(7, 5)]        // many small records, split mid-header
    [InlineData(100, 33)]
    public async Task Finds_the_sni_however_the_hello_is_split_and_leaves_every_byte_in_the_pipe(int recordSize, int segmentSize)
    {
        var hello = ClientHelloBuilder.Hello("MCP.Contoso.com.", recordSize, padding: 300);
        var pipe = new Pipe();
        var parser = new ClientHelloParser(64 * 1024);
        var writer = Task.Run(async () =>
        {
            for (var i = 0; i < hello.Length; i += segmentSize)
            {
                await pipe.Writer.WriteAsync(hello.AsMemory(i, Math.Min(segmentSize, hello.Length - i)));
                await Task.Yield();
            }
        });

        var outcome = await PipePeek.PeekAsync(pipe.Reader, parser, 64 * 1024, TimeSpan.FromSeconds(30), CancellationToken.None);
        await writer;

        Assert.Equal(PeekOutcome.Done, outcome);
        Assert.Equal("mcp.contoso.com", parser.ServerName);
        var result = await pipe.Reader.ReadAsync();
        Assert.Equal(hello.Length, result.Buffer.Length); // peeked, not consumed
    }

    [Fact]
    public void A_hello_without_sni_parses_with_no_name()
    {
        var parser = new ClientHelloParser(64 * 1024);
        Assert.Equal(ParseStatus.Done, parser.TryParse(new System.Buffers.ReadOnlySequence<byte>(ClientHelloBuilder.Hello(null))));
        Assert.Null(parser.ServerName);
    }

    [Theory]
    [InlineData(new byte[] { 0x16, 0x03, 0x01, 0x00, 0x05, 0x02, 0x00, 0x00, 0x01, 0x00 })] // ServerHello type, not ClientHello
    [InlineData(new byte[] { 0x17, 0x03, 0x03, 0x00, 0x05, 0x01, 0x02, 0x03, 0x04, 0x05 })] // application data
    [InlineData(new byte[] { 0x16, 0x03, 0x01, 0x00, 0x00 })]                               // empty record
    [InlineData(new byte[] { 0x16, 0x09, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00 })] // bad version
    public void Garbage_is_invalid(byte[] bytes)
    {
        var parser = new ClientHelloParser(64 * 1024);
        Assert.Equal(ParseStatus.Invalid, parser.TryParse(new System.Buffers.ReadOnlySequence<byte>(bytes)));
    }

    [Fact]
    public void An_ip_literal_or_junk_in_the_sni_is_invalid()
    {
        foreach (var sni in new[] { "10.0.0.1", "bad name", "a..b" })
        {
            var parser = new ClientHelloParser(64 * 1024);
            Assert.Equal(ParseStatus.Invalid, parser.TryParse(new System.Buffers.ReadOnlySequence<byte>(ClientHelloBuilder.Hello(sni))));
        }
    }

    [Fact]
    public void A_hello_larger_than_the_bound_is_invalid_and_a_partial_one_needs_more()
    {
        var big = ClientHelloBuilder.Hello("a.example", padding: 5000);
        Assert.Equal(ParseStatus.Invalid, new ClientHelloParser(4096).TryParse(new System.Buffers.ReadOnlySequence<byte>(big)));
        Assert.Equal(ParseStatus.NeedMore, new ClientHelloParser(64 * 1024).TryParse(new System.Buffers.ReadOnlySequence<byte>(big.AsMemory(0, 100))));
    }
}

using Corral.Interception.Http;

namespace Corral.Interception.Tests;

/// <summary>The one bounded buffer a body read whole is kept in: a refusing one stops the read, a capturing one lets the relay go on.</summary>
public sealed class BoundedBufferTests
{
    [Fact]
    public async Task A_refusing_buffer_holds_up_to_its_bound_and_throws_past_it_whatever_the_write()
    {
        using var buffer = BoundedBuffer.Refusing(8);
        buffer.Write("1234"u8);
        await buffer.WriteAsync("5678"u8.ToArray());
        Assert.Equal("12345678"u8.ToArray(), buffer.ToArray());
        Assert.Throws<BoundedBuffer.FullException>(() => buffer.Write("9"u8));
        Assert.Throws<BoundedBuffer.FullException>(() => buffer.Write([9], 0, 1));
        await Assert.ThrowsAsync<BoundedBuffer.FullException>(async () => await buffer.WriteAsync(new byte[] { 9 }));
        Assert.Equal(8, buffer.Length);
        Assert.False(buffer.Overflowed);
    }

    [Fact]
    public async Task A_capturing_buffer_past_its_bound_keeps_nothing_says_so_and_never_throws()
    {
        using var capture = BoundedBuffer.Capturing(8);
        await capture.WriteAsync("12345"u8.ToArray());
        Assert.False(capture.Overflowed);
        capture.Write("6789"u8); // one byte past: nothing kept, not a truncated copy that could be read as whole
        Assert.True(capture.Overflowed);
        Assert.Empty(capture.ToArray());
        capture.Write("1"u8); // and nothing kept after it
        Assert.Empty(capture.ToArray());
    }
}

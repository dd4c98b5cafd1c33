namespace Corral.Interception.Http;

/// <summary>
/// A memory buffer that holds at most a bound: what a body read whole is kept in. Past the bound it either refuses
/// (<see cref="Refusing"/>: throws <see cref="FullException"/>, the reader stops) or, while the relay goes on, keeps
/// nothing more and says so (<see cref="Capturing"/>: <see cref="Overflowed"/>).
/// </summary>
internal sealed class BoundedBuffer : MemoryStream
{
    private readonly int _limit;
    private readonly bool _refuses;

    private BoundedBuffer(int limit, bool refuses)
    {
        _limit = limit;
        _refuses = refuses;
    }

    /// <summary>A buffer that throws <see cref="FullException"/> at a write past the bound.</summary>
    public static BoundedBuffer Refusing(int limit) => new(limit, refuses: true);

    /// <summary>A copy of what is written, up to the bound; past it, empty and <see cref="Overflowed"/>.</summary>
    public static BoundedBuffer Capturing(int limit) => new(limit, refuses: false);

    public sealed class FullException() : Exception("bound reached");

    /// <summary>A capturing buffer went past its bound: it holds nothing.</summary>
    public bool Overflowed { get; private set; }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (Fits(buffer.Length)) base.Write(buffer); // a derived MemoryStream's span write comes back through Write(byte[], int, int)
    }

    public override void Write(byte[] buffer, int offset, int count)
    {
        if (Fits(count)) base.Write(buffer, offset, count);
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default)
    {
        Write(buffer.Span);
        return ValueTask.CompletedTask;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct)
    {
        Write(buffer.AsSpan(offset, count));
        return Task.CompletedTask;
    }

    private bool Fits(int count)
    {
        if (Overflowed) return false;
        if (Length + count <= _limit) return true;
        if (_refuses) throw new FullException();
        Overflowed = true;
        SetLength(0);
        return false;
    }
}

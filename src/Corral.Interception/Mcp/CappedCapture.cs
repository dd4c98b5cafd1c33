namespace Corral.Interception.Mcp;

/// <summary>Keeps a copy of what is written, up to a bound; past it, keeps nothing more and says so (the relay goes on).</summary>
internal sealed class CappedCapture(int limit) : Stream
{
    private readonly MemoryStream _kept = new();

    public bool Overflowed { get; private set; }
    public byte[] ToArray() => _kept.ToArray();

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (Overflowed) return;
        if (_kept.Length + buffer.Length > limit) { Overflowed = true; _kept.SetLength(0); return; }
        _kept.Write(buffer);
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Write(buffer.Span);
        return ValueTask.CompletedTask;
    }
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        Write(buffer.AsSpan(offset, count));
        return Task.CompletedTask;
    }

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => _kept.Length;
    public override long Position { get => _kept.Length; set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) _kept.Dispose();
        base.Dispose(disposing);
    }
}

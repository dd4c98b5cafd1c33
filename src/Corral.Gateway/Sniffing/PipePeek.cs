using System.Buffers;
using System.IO.Pipelines;

namespace Corral.Gateway.Sniffing;

/// <summary>What a parser made of the bytes buffered so far.</summary>
internal enum ParseStatus { NeedMore, Done, Invalid }

/// <summary>A parser fed the whole buffered prefix of a stream each time more bytes arrive.</summary>
internal interface IPrefixParser
{
    ParseStatus TryParse(in ReadOnlySequence<byte> buffer);
}

/// <summary>How a bounded peek ended.</summary>
/// <summary>How a bounded peek ended; Closed means the stream ended before any byte arrived.</summary>
internal enum PeekOutcome { Done, Invalid, TooLarge, EndOfStream, Closed, TimedOut }

/// <summary>
/// Reads a stream's prefix into the pipe until a parser is satisfied, without consuming it: the bytes stay buffered
/// and are later forwarded untouched. Bounded in size and time so a slow or hostile client cannot hold memory.
/// </summary>
internal static class PipePeek
{
    public static ValueTask<PeekOutcome> PeekAsync(PipeReader reader, IPrefixParser parser, int maxBytes, TimeSpan timeout, CancellationToken cancellationToken)
    {
        // Often the bytes are already buffered (the ClientHello came with the first byte sniffed before it): answer
        // from the buffer without arming a timer, which costs a linked token source, a timer and a registration.
        if (reader.TryRead(out var buffered))
        {
            var buffer = buffered.Buffer;
            var status = buffer.IsEmpty ? ParseStatus.NeedMore : parser.TryParse(buffer);
            if (status != ParseStatus.NeedMore)
            {
                reader.AdvanceTo(buffer.Start);
                return ValueTask.FromResult(status == ParseStatus.Done ? PeekOutcome.Done : PeekOutcome.Invalid);
            }
            // Not enough yet: give the bytes back unexamined, so the read below returns them at once.
            reader.AdvanceTo(buffer.Start);
        }
        return WaitAsync(reader, parser, maxBytes, timeout, cancellationToken);
    }

    private static async ValueTask<PeekOutcome> WaitAsync(PipeReader reader, IPrefixParser parser, int maxBytes, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var timer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timer.CancelAfter(timeout);
        // CancelPendingRead keeps the reader usable, unlike cancelling the read's token, so a caller may go on after a timeout.
        await using var registration = timer.Token.UnsafeRegister(static r => ((PipeReader)r!).CancelPendingRead(), reader).ConfigureAwait(false);
        while (true)
        {
            var result = await reader.ReadAsync(CancellationToken.None).ConfigureAwait(false);
            var buffer = result.Buffer;
            var status = buffer.IsEmpty ? ParseStatus.NeedMore : parser.TryParse(buffer);
            var tooLarge = status == ParseStatus.NeedMore && buffer.Length >= maxBytes;
            if (status != ParseStatus.NeedMore)
            {
                // Consumed and examined nothing: the next ReadAsync returns these same bytes at once.
                reader.AdvanceTo(buffer.Start);
                return status == ParseStatus.Done ? PeekOutcome.Done : PeekOutcome.Invalid;
            }
            // Examined everything, consumed nothing: the next ReadAsync waits for more bytes but keeps these.
            reader.AdvanceTo(buffer.Start, buffer.End);
            if (tooLarge) return PeekOutcome.TooLarge;
            if (result.IsCanceled) { cancellationToken.ThrowIfCancellationRequested(); return PeekOutcome.TimedOut; }
            if (result.IsCompleted) return buffer.IsEmpty ? PeekOutcome.Closed : PeekOutcome.EndOfStream;
        }
    }
}

/// <summary>Satisfied by the first byte of a stream, for telling TLS from plain text.</summary>
internal sealed class FirstByteParser : IPrefixParser
{
    public byte Value { get; private set; }

    public ParseStatus TryParse(in ReadOnlySequence<byte> buffer)
    {
        Value = buffer.FirstSpan[0];
        return ParseStatus.Done;
    }
}

using System.Text;

namespace Corral.Interception.Mcp;

/// <summary>
/// Splits a <c>text/event-stream</c> into events as received, bytes unchanged, so that each event can be checked
/// before it is relayed. Lines end with CRLF, LF or CR and an empty line ends an event (the WHATWG rules a client's
/// parser follows); bytes after the last empty line are returned by <see cref="Rest"/> at the stream's end.
/// </summary>
internal sealed class EventStreamSplitter(int maxEventBytes)
{
    private readonly MemoryStream _event = new();
    private int _lineLength;
    private bool _afterCarriageReturn;

    /// <summary>Feeds bytes; returns the events they complete (each with its ending empty line).</summary>
    /// <exception cref="InvalidDataException">An event grew past the bound.</exception>
    public List<byte[]> Feed(ReadOnlySpan<byte> bytes)
    {
        var events = new List<byte[]>();
        foreach (var b in bytes)
        {
            _event.WriteByte(b);
            if (_afterCarriageReturn && b == (byte)'\n') { _afterCarriageReturn = false; continue; } // CRLF: one line end
            _afterCarriageReturn = b == (byte)'\r';
            if (b is (byte)'\r' or (byte)'\n')
            {
                if (_lineLength == 0)
                {
                    events.Add(_event.ToArray());
                    _event.SetLength(0);
                }
                _lineLength = 0;
            }
            else _lineLength++;
            if (_event.Length > maxEventBytes) throw new InvalidDataException($"an event longer than {maxEventBytes} bytes");
        }
        return events;
    }

    /// <summary>What is left after the last complete event (null when nothing).</summary>
    public byte[]? Rest() => _event.Length == 0 ? null : _event.ToArray();

    /// <summary>An event's data: its <c>data</c> fields joined by newlines; null when it has none (a client skips it).</summary>
    public static string? DataOf(byte[] rawEvent)
    {
        var text = Encoding.UTF8.GetString(rawEvent).TrimStart('\uFEFF'); // a byte order mark starts a stream, and is skipped
        StringBuilder? data = null;
        foreach (var line in text.Replace("\r\n", "\n").Replace('\r', '\n').Split('\n'))
        {
            if (line.Length == 0) continue;
            var colon = line.IndexOf(':');
            var field = colon < 0 ? line : line[..colon];
            if (field != "data") continue;
            var value = colon < 0 ? "" : line[(colon + 1)..];
            if (value.StartsWith(' ')) value = value[1..];
            (data ??= new StringBuilder()).Append(value).Append('\n');
        }
        if (data is null || data.Length <= 1) return null;
        return data.ToString(0, data.Length - 1);
    }
}

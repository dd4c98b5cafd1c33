namespace Corral.Gateway.Tls;

/// <summary>
/// Splits the payloads of consecutive TLS handshake records into handshake messages (a message may span records,
/// and a record may hold several). Only the bodies of the message types asked for are buffered (bounded); the rest
/// are skipped, their types still reported.
/// </summary>
internal sealed class HandshakeMessages(int maxBody, Func<byte, bool> keepBody)
{
    public delegate string? Handler(byte type, ReadOnlySpan<byte> body);

    private readonly byte[] _header = new byte[4];
    private int _headerHave;
    private byte[]? _body;
    private int _bodyHave;
    private int _skip;

    /// <summary>Feeds one record's payload; <paramref name="onMessage"/> sees each message (a kept one with its whole
    /// body once complete, another with an empty body as soon as its type is known). Returns the first problem, or null.</summary>
    public string? Feed(ReadOnlySpan<byte> payload, Handler onMessage)
    {
        while (!payload.IsEmpty)
        {
            if (_skip > 0)
            {
                var n = Math.Min(_skip, payload.Length);
                _skip -= n;
                payload = payload[n..];
                continue;
            }
            if (_body is not null)
            {
                var n = Math.Min(_body.Length - _bodyHave, payload.Length);
                payload[..n].CopyTo(_body.AsSpan(_bodyHave));
                _bodyHave += n;
                payload = payload[n..];
                if (_bodyHave < _body.Length) continue;
                var body = _body;
                _body = null;
                if (onMessage(_header[0], body) is { } problem) return problem;
                continue;
            }
            _header[_headerHave++] = payload[0];
            payload = payload[1..];
            if (_headerHave < 4) continue;
            _headerHave = 0;
            var length = (_header[1] << 16) | (_header[2] << 8) | _header[3];
            if (!keepBody(_header[0]))
            {
                _skip = length;
                if (onMessage(_header[0], default) is { } problem) return problem;
                continue;
            }
            if (length > maxBody) return $"handshake message {_header[0]} larger than {maxBody} bytes";
            if (length == 0)
            {
                if (onMessage(_header[0], default) is { } problem) return problem;
                continue;
            }
            _body = new byte[length];
            _bodyHave = 0;
        }
        return null;
    }
}

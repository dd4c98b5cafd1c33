using System.Text;

namespace Corral.Testing;

/// <summary>Reads an HTTP response head (and a Content-Length body) from a raw stream.</summary>
public static class RawHttp
{
    public static async Task<(int Status, string Head, string Body)> ReadResponseAsync(Stream stream)
    {
        var buffer = new List<byte>();
        var one = new byte[1];
        while (true)
        {
            var n = await stream.ReadAsync(one);
            if (n == 0) break;
            buffer.Add(one[0]);
            if (buffer.Count >= 4 && buffer[^4] == '\r' && buffer[^3] == '\n' && buffer[^2] == '\r' && buffer[^1] == '\n') break;
        }
        var head = Encoding.Latin1.GetString(buffer.ToArray());
        if (head.Length < 12) return (0, head, "");
        var status = int.Parse(head.Substring(9, 3));
        var lengthLine = head.Split("\r\n").FirstOrDefault(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase));
        var body = "";
        if (lengthLine is not null)
        {
            var length = int.Parse(lengthLine.Split(':')[1].Trim());
            var bytes = new byte[length];
            await stream.ReadExactlyAsync(bytes);
            body = Encoding.UTF8.GetString(bytes);
        }
        return (status, head, body);
    }

    /// <summary>Reads until the peer closes (or the timeout passes); returns what arrived.</summary>
    public static async Task<byte[]> ReadToCloseAsync(Stream stream, int seconds = 30)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        var ms = new MemoryStream();
        var buffer = new byte[4096];
        try
        {
            while (true)
            {
                var n = await stream.ReadAsync(buffer, cts.Token);
                if (n == 0) break;
                ms.Write(buffer, 0, n);
            }
        }
        catch (IOException) { }
        return ms.ToArray();
    }
}

using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Corral.Policy.Compilation;

namespace Corral.Gateway.Proxy;

/// <summary>
/// The gateway's own HTTP answers. A denial says plainly that policy blocked the destination and that it must not be
/// retried another way, because agents read a bare 403 as a network fault and try to route around it.
/// </summary>
internal static class Responses
{
    public const string RuleHeader = "X-Corral-Rule";

    /// <summary>A TLS fatal alert, access_denied (49), sent before closing a denied transparent TLS flow.</summary>
    public static readonly byte[] TlsAccessDenied = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 49];

    public static readonly byte[] ConnectEstablished = "HTTP/1.1 200 Connection Established\r\n\r\n"u8.ToArray();
    public static readonly byte[] Continue = "HTTP/1.1 100 Continue\r\n\r\n"u8.ToArray();

    public static byte[] Denied(string destination, Verdict? verdict, string? refusal)
    {
        var rule = verdict?.Rule?.Name ?? (refusal is null ? "(default-action)" : "(gateway)");
        var reason = refusal ?? verdict?.ReasonText ?? "denied";
        var body = Json(w =>
        {
            w.WriteString("error", "blocked_by_policy");
            w.WriteString("destination", destination);
            w.WriteString("rule", rule);
            w.WriteString("reason", reason);
            w.WriteString("message", "The egress policy blocks this destination. Do not retry it another way (other address, port, proxy, protocol or tool); ask the operator to change the policy if this access is needed.");
        });
        return Build(403, "Forbidden", body, ("X-Corral-Rule", Sanitize(rule)));
    }

    public static byte[] Error(int status, string phrase, string problem)
    {
        var body = Json(w =>
        {
            w.WriteString("error", phrase.ToLowerInvariant().Replace(' ', '_'));
            w.WriteString("message", problem);
        });
        return Build(status, phrase, body);
    }

    /// <summary>503 for a connection the gateway refuses on its own account (a limit, not the policy), naming the check; nothing of the request was read.</summary>
    public static byte[] Unavailable(string check, string reason, string advice) => Build(503, "Service Unavailable", Json(w =>
    {
        w.WriteString("error", "unavailable");
        w.WriteString("check", check);
        w.WriteString("destination", "(not read)");
        w.WriteString("reason", reason);
        w.WriteString("advice", advice);
    }), ("X-Corral-Check", check));

    private static byte[] Build(int status, string phrase, byte[] body, params (string Name, string Value)[] headers)
    {
        var head = new StringBuilder();
        head.Append($"HTTP/1.1 {status} {phrase}\r\n");
        foreach (var (n, v) in headers) head.Append($"{n}: {v}\r\n");
        head.Append($"Content-Type: application/json\r\nContent-Length: {body.Length}\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n");
        return [.. Encoding.ASCII.GetBytes(head.ToString()), .. body];
    }

    private static byte[] Json(Action<Utf8JsonWriter> write)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            write(w);
            w.WriteEndObject();
        }
        stream.WriteByte((byte)'\n');
        return stream.ToArray();
    }

    private static string Sanitize(string value) => new(value.Select(c => c is >= ' ' and < (char)0x7F ? c : '?').ToArray());
}

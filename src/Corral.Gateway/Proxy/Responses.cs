namespace Corral.Gateway.Proxy;

/// <summary>The gateway's fixed answers; refusals are <see cref="Interception.Http.Refusal"/>.</summary>
internal static class Responses
{
    /// <summary>A TLS fatal alert, access_denied (49), sent before closing a denied transparent TLS flow.</summary>
    public static readonly byte[] TlsAccessDenied = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 49];

    public static readonly byte[] ConnectEstablished = "HTTP/1.1 200 Connection Established\r\n\r\n"u8.ToArray();
}

using System.Net.Security;

namespace Corral.Interception;

/// <summary>
/// Told when an intercepted flow's TLS handshakes start and how they end, so the flow's owner can trace them. An
/// <see cref="IRequestGate"/> that also implements this is told; the interceptor never depends on it.
/// </summary>
public interface ITlsHandshakeObserver
{
    /// <param name="serverName">The name the handshake is for (the SNI the flow was decided on).</param>
    /// <param name="upstream">The gateway's handshake with the destination (true), or the client's with the minted leaf (false).</param>
    /// <returns>What to tell the outcome; null when nobody is listening.</returns>
    ITlsHandshakeScope? HandshakeStarting(string serverName, bool upstream);
}

/// <summary>One handshake under way: <see cref="Established"/> when it completes; disposed without it, it failed.</summary>
public interface ITlsHandshakeScope : IDisposable
{
    void Established(SslStream tls);
}

using System.Net;

namespace Corral.Admin;

/// <summary>Where the admin server listens and what it needs to accept changes.</summary>
public sealed record AdminOptions
{
    /// <summary>The listener; loopback by default. Port 0 binds a free port (see <see cref="AdminServer.EndPoint"/>).</summary>
    public IPEndPoint Listen { get; init; } = new(IPAddress.Loopback, 9901);

    /// <summary>The bearer token mutating calls must present; null refuses every mutating call (403), never opens them.</summary>
    public AdminToken? Token { get; init; }

    /// <summary>
    /// Names (the Host header) the admin server may be reached by besides its own address, and <c>localhost</c> on a
    /// loopback listener; any other name is refused (DNS rebinding).
    /// </summary>
    public IReadOnlyList<string> AllowedHosts { get; init; } = [];

    /// <summary>The largest request body (a PUT policy); larger ones get 413.</summary>
    public long MaxRequestBodyBytes { get; init; } = 8 * 1024 * 1024;

    /// <summary>Most flow records one /api/flows call returns.</summary>
    public int MaxFlows { get; init; } = 1000;
}

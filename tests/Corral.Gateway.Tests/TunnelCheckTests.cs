using Corral.Gateway.Proxy;

namespace Corral.Gateway.Tests;

/// <summary>The agreement checks on a stream's first bytes: fronting, TLS on 443, bad input.</summary>
public sealed class TunnelCheckTests
{
    [Theory]
    [InlineData((int)StreamKind.Tls, "mcp.contoso.com", "mcp.contoso.com", 443, null)]
    [InlineData((int)StreamKind.Tls, null, "mcp.contoso.com", 443, null)]                         // no SNI: nothing to disagree with
    [InlineData((int)StreamKind.Http, "127.0.0.5", "127.0.0.5", 80, null)]                        // Host names the requested address
    [InlineData((int)StreamKind.Tls, "c2.attacker.test", "mcp.contoso.com", 443, "domain fronting")]
    [InlineData((int)StreamKind.Tls, "c2.attacker.test", "203.0.113.9", 443, "domain fronting")]  // a name where an address was asked for
    [InlineData((int)StreamKind.Http, "evil.example", "www.example.test", 80, "domain fronting")]
    [InlineData((int)StreamKind.Opaque, null, "mcp.contoso.com", 443, "not TLS on port 443")]
    [InlineData((int)StreamKind.Silent, null, "mcp.contoso.com", 443, "not TLS on port 443")]
    [InlineData((int)StreamKind.Opaque, null, "db.example", 5432, null)]
    public void Checks(int kindValue, string? seen, string expected, int port, string? refusal)
    {
        var kind = (StreamKind)kindValue;
        var result = Tunnel.Check(new Sniffed(kind, seen, null, null), expected, port);
        if (refusal is null) Assert.Null(result);
        else Assert.Contains(refusal, result);
    }
}

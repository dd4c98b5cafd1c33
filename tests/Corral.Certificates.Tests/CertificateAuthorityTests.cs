using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Corral.Certificates.Tests;

/// <summary>The interception CA and its leaves, checked with real TLS handshakes on loopback.</summary>
public sealed class CertificateAuthorityTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "corral-ca-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, true);
    }

    /// <summary>Serves one TLS handshake with <paramref name="server"/> and returns whether a client trusting only <paramref name="trusted"/> accepted it for <paramref name="targetName"/>.</summary>
    internal static async Task<(bool Accepted, X509Certificate2? Seen)> HandshakeAsync(SslStreamCertificateContext server, X509Certificate2 trusted, string targetName)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var serverTask = Task.Run(async () =>
        {
            using var socket = await listener.AcceptSocketAsync();
            await using var stream = new SslStream(new NetworkStream(socket, true));
            try
            {
                await stream.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificateContext = server });
                await stream.WriteAsync("ok"u8.ToArray());
            }
            catch (Exception e) when (e is AuthenticationException or IOException) { }
        });
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        await using var tls = new SslStream(client.GetStream());
        var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
        policy.CustomTrustStore.Add(trusted);
        try
        {
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = targetName, CertificateChainPolicy = policy });
            var seen = new X509Certificate2(tls.RemoteCertificate!);
            var buffer = new byte[2];
            await tls.ReadExactlyAsync(buffer);
            return (true, seen);
        }
        catch (AuthenticationException)
        {
            return (false, null);
        }
        finally
        {
            client.Close();
            await serverTask;
        }
    }

    [Fact]
    public void A_new_CA_is_saved_with_an_owner_only_key_and_loads_back()
    {
        using var ca = CertificateAuthority.Create(new CaOptions());
        var (cert, key) = ca.Save(_dir);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(key));
        Assert.StartsWith("-----BEGIN CERTIFICATE-----", File.ReadAllText(cert));
        Assert.StartsWith("-----BEGIN PRIVATE KEY-----", File.ReadAllText(key));
        using var loaded = CertificateAuthority.Load(cert, key);
        Assert.Equal(ca.Certificate.Thumbprint, loaded.Certificate.Thumbprint);
        Assert.True(loaded.Certificate.HasPrivateKey);
        Assert.NotNull(loaded.Certificate.GetECDsaPrivateKey());
        Assert.Throws<CaException>(() => ca.Save(_dir)); // never overwritten by accident
    }

    [Fact]
    public void A_CA_key_that_others_can_read_is_refused()
    {
        using var ca = CertificateAuthority.Create(new CaOptions());
        var (cert, key) = ca.Save(_dir);
        File.SetUnixFileMode(key, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var error = Assert.Throws<CaException>(() => CertificateAuthority.Load(cert, key));
        Assert.Contains("chmod 600", error.Message);
    }

    [Fact]
    public void A_leaf_certificate_is_not_accepted_as_a_CA()
    {
        using var ca = CertificateAuthority.Create(new CaOptions());
        using var leaf = new LeafMinter(ca).Mint("not-a-ca.example");
        Directory.CreateDirectory(_dir);
        var cert = Path.Combine(_dir, "leaf.crt");
        var key = Path.Combine(_dir, "leaf.key");
        File.WriteAllText(cert, leaf.ExportCertificatePem());
        File.WriteAllText(key, leaf.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        File.SetUnixFileMode(key, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        Assert.Contains("not a CA", Assert.Throws<CaException>(() => CertificateAuthority.Load(cert, key)).Message);
    }

    [Fact]
    public void Minted_leaves_name_the_host_are_short_lived_backdated_and_have_random_serials()
    {
        using var ca = CertificateAuthority.Create(new CaOptions());
        var minter = new LeafMinter(ca);
        using var a = minter.Mint("mcp.contoso.com");
        using var b = minter.Mint("mcp.contoso.com");
        Assert.NotEqual(a.SerialNumber, b.SerialNumber);
        Assert.Equal(ca.Certificate.Subject, a.Issuer);
        Assert.Equal("mcp.contoso.com", a.GetNameInfo(X509NameType.DnsName, false));
        Assert.True(a.NotBefore.ToUniversalTime() < DateTime.UtcNow.AddMinutes(-30));
        Assert.True(a.NotAfter.ToUniversalTime() <= DateTime.UtcNow.Add(LeafMinter.Validity).AddMinutes(1));
        Assert.Equal(16, a.GetSerialNumber().Length);
    }

    [Theory]
    [InlineData(CaKeyType.EcdsaP256)]
    [InlineData(CaKeyType.Rsa3072)]
    public async Task A_client_that_trusts_the_CA_accepts_a_minted_leaf_for_its_name_only(CaKeyType keyType)
    {
        using var ca = CertificateAuthority.Create(new CaOptions { KeyType = keyType });
        using var cache = new LeafCertificateCache(new LeafMinter(ca));
        var context = cache.Get("mcp.contoso.com");
        var ok = await HandshakeAsync(context, ca.Certificate, "mcp.contoso.com");
        Assert.True(ok.Accepted);
        Assert.Equal(ca.Certificate.Subject, ok.Seen!.Issuer);
        Assert.False((await HandshakeAsync(context, ca.Certificate, "other.contoso.com")).Accepted);
        using var stranger = CertificateAuthority.Create(new CaOptions());
        Assert.False((await HandshakeAsync(context, stranger.Certificate, "mcp.contoso.com")).Accepted);
    }

    [Fact]
    public async Task A_name_constrained_CA_cannot_impersonate_names_outside_its_constraints()
    {
        using var ca = CertificateAuthority.Create(new CaOptions { PermittedDnsNames = ["mcp.contoso.com", "*.tools.example"] });
        Assert.Equal(["mcp.contoso.com", "tools.example"], ca.PermittedDnsNames);
        using var cache = new LeafCertificateCache(new LeafMinter(ca));
        Assert.True((await HandshakeAsync(cache.Get("mcp.contoso.com"), ca.Certificate, "mcp.contoso.com")).Accepted);
        Assert.True((await HandshakeAsync(cache.Get("a.tools.example"), ca.Certificate, "a.tools.example")).Accepted);
        Assert.False((await HandshakeAsync(cache.Get("login.microsoftonline.com"), ca.Certificate, "login.microsoftonline.com")).Accepted);
    }

    [Fact]
    public async Task Concurrent_first_requests_for_one_name_mint_once()
    {
        using var ca = CertificateAuthority.Create(new CaOptions());
        using var cache = new LeafCertificateCache(new LeafMinter(ca));
        var gate = new ManualResetEventSlim();
        var tasks = Enumerable.Range(0, 32).Select(_ => Task.Run(() => { gate.Wait(); return cache.Get("api.github.com"); })).ToArray();
        gate.Set();
        var contexts = await Task.WhenAll(tasks);
        Assert.Equal(1, cache.MintCount);
        Assert.All(contexts, c => Assert.Same(contexts[0], c));
        cache.Get("mcp.contoso.com");
        Assert.Equal(2, cache.MintCount);
    }

    [Fact]
    public void The_cache_is_bounded()
    {
        using var ca = CertificateAuthority.Create(new CaOptions());
        using var cache = new LeafCertificateCache(new LeafMinter(ca), capacity: 20);
        for (var i = 0; i < 100; i++) cache.Get($"host{i}.example");
        Assert.True(cache.Count <= 22, $"cache holds {cache.Count}");
        Assert.Equal(100, cache.MintCount);
    }
}

using System.Collections.Concurrent;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Corral.Certificates;

/// <summary>Mints short-lived server certificates for one host name, signed by the interception CA.</summary>
public sealed class LeafMinter(CertificateAuthority authority)
{
    // The CA's key, fetched once: fetching it per mint costs more than the signature.
    private readonly X509SignatureGenerator _signer =
        authority.Certificate.GetECDsaPrivateKey() is { } ec ? X509SignatureGenerator.CreateForECDsa(ec)
        : authority.Certificate.GetRSAPrivateKey() is { } rsa ? X509SignatureGenerator.CreateForRSA(rsa, RSASignaturePadding.Pkcs1)
        : throw new CaException("the CA has no usable private key");

    /// <summary>How long a minted leaf is valid; short, so a leaked leaf is worth little.</summary>
    public static readonly TimeSpan Validity = TimeSpan.FromDays(2);

    /// <summary>How far back a leaf's validity starts, for clients whose clocks run slow.</summary>
    public static readonly TimeSpan Backdate = TimeSpan.FromHours(1);

    public CertificateAuthority Authority => authority;

    /// <summary>A new leaf (ECDSA P-256, SAN = the name, serverAuth) with its private key.</summary>
    public X509Certificate2 Mint(string hostName)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName($"CN={hostName}"), key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(hostName);
        request.CertificateExtensions.Add(san.Build(critical: false));
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(authority.Certificate, true, false));

        var now = DateTimeOffset.UtcNow;
        var notBefore = now - Backdate;
        var notAfter = now + Validity;
        var caNotAfter = new DateTimeOffset(authority.Certificate.NotAfter.ToUniversalTime());
        if (notAfter > caNotAfter) notAfter = caNotAfter;
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F; // positive
        serial[0] |= 0x01; // and never shortened by a leading zero
        using var unkeyed = request.Create(authority.Certificate.SubjectName, _signer, notBefore, notAfter, serial);
        return unkeyed.CopyWithPrivateKey(key);
    }
}

/// <summary>
/// Server certificate contexts per SNI name, minted on first use and reused: concurrent first requests for one
/// name mint once; the cache is bounded; a leaf close to expiry is replaced.
/// </summary>
public sealed class LeafCertificateCache(LeafMinter minter, int capacity = 10_000) : IDisposable
{
    private static readonly TimeSpan RenewBefore = TimeSpan.FromHours(6);
    private readonly ConcurrentDictionary<string, Lazy<Entry>> _entries = new(StringComparer.Ordinal);
    private long _mints;

    /// <summary>How many leaves have been minted (a cache miss each).</summary>
    public long MintCount => Interlocked.Read(ref _mints);

    public int Count => _entries.Count;

    /// <summary>The context for <paramref name="hostName"/> (a normalized name), minting it if needed.</summary>
    public SslStreamCertificateContext Get(string hostName)
    {
        while (true)
        {
            var lazy = _entries.GetOrAdd(hostName, name => new Lazy<Entry>(() => MintEntry(name), LazyThreadSafetyMode.ExecutionAndPublication));
            Entry entry;
            try
            {
                entry = lazy.Value;
            }
            catch
            {
                _entries.TryRemove(new KeyValuePair<string, Lazy<Entry>>(hostName, lazy)); // don't cache a failure
                throw;
            }
            if (entry.RenewAfter > DateTime.UtcNow) return entry.Context;
            _entries.TryRemove(new KeyValuePair<string, Lazy<Entry>>(hostName, lazy)); // stale: mint again
        }
    }

    private Entry MintEntry(string hostName)
    {
        if (_entries.Count > capacity) Evict();
        var leaf = minter.Mint(hostName);
        Interlocked.Increment(ref _mints);
        var context = SslStreamCertificateContext.Create(leaf, [minter.Authority.Certificate], offline: true);
        return new Entry(context, leaf, leaf.NotAfter.ToUniversalTime() - RenewBefore);
    }

    // Bounded without bookkeeping on the hit path: past capacity, drop an arbitrary tenth.
    private void Evict()
    {
        var drop = Math.Max(1, _entries.Count / 10);
        foreach (var key in _entries.Keys.Take(drop)) _entries.TryRemove(key, out _);
    }

    public void Dispose()
    {
        foreach (var lazy in _entries.Values)
            if (lazy.IsValueCreated) lazy.Value.Leaf.Dispose();
        _entries.Clear();
    }

    private sealed record Entry(SslStreamCertificateContext Context, X509Certificate2 Leaf, DateTime RenewAfter);
}

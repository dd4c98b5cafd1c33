using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Corral.Testing;

/// <summary>Certificates a test mints for itself.</summary>
public static class TestCertificates
{
    /// <summary>A self-signed ECDSA P-256 server certificate for <paramref name="names"/> (the first is the subject), valid from yesterday to tomorrow, with its key.</summary>
    public static X509Certificate2 SelfSigned(params string[] names)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={names[0]}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        foreach (var n in names) san.AddDnsName(n);
        request.CertificateExtensions.Add(san.Build());
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        return X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pkcs12), null);
    }
}

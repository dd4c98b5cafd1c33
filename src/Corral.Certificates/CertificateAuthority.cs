using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Corral.Certificates;

/// <summary>The key type of a certificate authority.</summary>
public enum CaKeyType { EcdsaP256, Rsa3072 }

/// <summary>How to make a new interception CA.</summary>
public sealed record CaOptions
{
    public CaKeyType KeyType { get; init; } = CaKeyType.EcdsaP256;
    public string CommonName { get; init; } = "Corral Interception CA";
    public TimeSpan Validity { get; init; } = TimeSpan.FromDays(365 * 2);

    /// <summary>
    /// When set, the CA carries critical X.509 name constraints: it can sign only these DNS names (and names below
    /// them) and no IP addresses, so a stolen key cannot impersonate anything else.
    /// </summary>
    public IReadOnlyList<string>? PermittedDnsNames { get; init; }
}

/// <summary>An interception root CA: its certificate with private key, loaded or freshly made.</summary>
public sealed class CertificateAuthority : IDisposable
{
    public const string CertificateFileName = "corral-ca.crt";
    public const string KeyFileName = "corral-ca.key";

    private CertificateAuthority(X509Certificate2 certificate) => Certificate = certificate;

    /// <summary>The CA certificate, with its private key.</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>The DNS names the CA is constrained to, or null when it is unconstrained.</summary>
    public IReadOnlyList<string>? PermittedDnsNames => NameConstraints.ReadPermittedDnsNames(Certificate);

    public static CertificateAuthority Create(CaOptions options)
    {
        var subject = new X500DistinguishedName($"CN={Escape(options.CommonName)}, O=Corral");
        CertificateRequest request;
        AsymmetricAlgorithm key;
        if (options.KeyType == CaKeyType.Rsa3072)
        {
            var rsa = RSA.Create(3072);
            key = rsa;
            request = new CertificateRequest(subject, rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        }
        else
        {
            var ecdsa = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            key = ecdsa;
            request = new CertificateRequest(subject, ecdsa, HashAlgorithmName.SHA256);
        }
        using (key)
        {
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
            request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
            request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
            if (options.PermittedDnsNames is { Count: > 0 } names)
                request.CertificateExtensions.Add(NameConstraints.Create(names));
            var now = DateTimeOffset.UtcNow;
            using var certificate = request.CreateSelfSigned(now.AddHours(-1), now.Add(options.Validity));
            // Round-trip through PKCS#12 so the key is usable by SslStream on every platform.
            return new CertificateAuthority(X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null, X509KeyStorageFlags.Exportable));
        }
    }

    /// <summary>Writes the certificate (world-readable) and the key (owner-only, created so from the start) as PEM.</summary>
    public (string CertificatePath, string KeyPath) Save(string directory, bool overwrite = false)
    {
        Directory.CreateDirectory(directory);
        var certPath = Path.Combine(directory, CertificateFileName);
        var keyPath = Path.Combine(directory, KeyFileName);
        if (!overwrite && (File.Exists(certPath) || File.Exists(keyPath)))
            throw new CaException($"{directory} already holds a CA; refusing to overwrite it");
        // PEM files end in a newline, so `cat ca.crt other.crt > bundle.pem` makes a bundle clients can read.
        File.WriteAllText(certPath, Certificate.ExportCertificatePem() + "\n");
        var keyPem = ExportPrivateKeyPem(Certificate);
        File.Delete(keyPath);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var stream = new FileStream(keyPath, options))
        using (var writer = new StreamWriter(stream))
            writer.Write(keyPem + "\n");
        return (certPath, keyPath);
    }

    /// <summary>
    /// Loads a CA from PEM files: Corral's own, or one the organization already has. Refuses a key file that
    /// group or others can read, and a certificate that is not a CA or does not match the key.
    /// </summary>
    public static CertificateAuthority Load(string certificatePath, string keyPath)
    {
        if (!File.Exists(certificatePath)) throw new CaException($"CA certificate {certificatePath} not found");
        if (!File.Exists(keyPath)) throw new CaException($"CA key {keyPath} not found");
        if (!OperatingSystem.IsWindows())
        {
            var mode = File.GetUnixFileMode(keyPath);
            const UnixFileMode OthersOrGroup = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute |
                                               UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;
            if ((mode & OthersOrGroup) != 0)
                throw new CaException($"CA key {keyPath} can be read by others (mode {Convert.ToString((int)mode, 8)}); run: chmod 600 {keyPath}");
        }
        X509Certificate2 loaded;
        try
        {
            loaded = X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
        }
        catch (CryptographicException ex)
        {
            throw new CaException($"cannot load the CA from {certificatePath} and {keyPath}: {ex.Message}");
        }
        using (loaded)
        {
            var basic = loaded.Extensions.OfType<X509BasicConstraintsExtension>().FirstOrDefault();
            if (basic is not { CertificateAuthority: true })
                throw new CaException($"{certificatePath} is not a CA certificate (basicConstraints CA:TRUE is missing)");
            if (loaded.NotAfter.ToUniversalTime() < DateTime.UtcNow)
                throw new CaException($"CA certificate {certificatePath} expired on {loaded.NotAfter:u}");
            return new CertificateAuthority(X509CertificateLoader.LoadPkcs12(loaded.Export(X509ContentType.Pkcs12), null, X509KeyStorageFlags.Exportable));
        }
    }

    public void Dispose() => Certificate.Dispose();

    private static string ExportPrivateKeyPem(X509Certificate2 certificate) =>
        (AsymmetricAlgorithm?)certificate.GetECDsaPrivateKey() is { } ec ? ec.ExportPkcs8PrivateKeyPem()
        : certificate.GetRSAPrivateKey() is { } rsa ? rsa.ExportPkcs8PrivateKeyPem()
        : throw new CaException("the CA certificate has no exportable private key");

    private static string Escape(string name) => name.Replace(",", "\\,").Replace("=", "\\=");
}

/// <summary>A CA that cannot be made, loaded or used; the message says what to do.</summary>
public sealed class CaException(string message) : Exception(message);

/// <summary>RFC 5280 name constraints (permitted dNSName subtrees, every IP address excluded).</summary>
internal static class NameConstraints
{
    public const string Oid = "2.5.29.30";
    private static readonly Asn1Tag Permitted = new(TagClass.ContextSpecific, 0, true);
    private static readonly Asn1Tag Excluded = new(TagClass.ContextSpecific, 1, true);
    private static readonly Asn1Tag DnsName = new(TagClass.ContextSpecific, 2);
    private static readonly Asn1Tag IpAddress = new(TagClass.ContextSpecific, 7);

    public static X509Extension Create(IEnumerable<string> dnsNames)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            using (writer.PushSequence(Permitted))
            {
                foreach (var name in dnsNames.Select(n => n.StartsWith("*.", StringComparison.Ordinal) ? n[2..] : n).Distinct().Order(StringComparer.Ordinal))
                    using (writer.PushSequence())
                        writer.WriteCharacterString(UniversalTagNumber.IA5String, name, DnsName);
            }
            using (writer.PushSequence(Excluded))
            {
                // iPAddress constraints are address+mask: all of IPv4 and all of IPv6.
                using (writer.PushSequence()) writer.WriteOctetString(new byte[8], IpAddress);
                using (writer.PushSequence()) writer.WriteOctetString(new byte[32], IpAddress);
            }
        }
        return new X509Extension(Oid, writer.Encode(), critical: true);
    }

    public static IReadOnlyList<string>? ReadPermittedDnsNames(X509Certificate2 certificate)
    {
        var extension = certificate.Extensions[Oid];
        if (extension is null) return null;
        var names = new List<string>();
        var reader = new AsnReader(extension.RawData, AsnEncodingRules.DER).ReadSequence();
        if (reader.HasData && reader.PeekTag().HasSameClassAndValue(Permitted))
        {
            var subtrees = reader.ReadSequence(Permitted);
            while (subtrees.HasData)
            {
                var subtree = subtrees.ReadSequence();
                if (subtree.PeekTag().HasSameClassAndValue(DnsName))
                    names.Add(subtree.ReadCharacterString(UniversalTagNumber.IA5String, DnsName));
                else subtree.ReadEncodedValue();
            }
        }
        return names;
    }
}

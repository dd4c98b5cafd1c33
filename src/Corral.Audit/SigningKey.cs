using System.Security.Cryptography;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.EdEC;
using Org.BouncyCastle.Asn1.Pkcs;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Crypto.Signers;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.X509;

namespace Corral.Audit;

/// <summary>A key file that cannot be used: missing, unreadable, readable by others, or not an Ed25519 key.</summary>
public sealed class SigningKeyException(string message) : Exception(message);

/// <summary>
/// The Ed25519 key pair that signs flow-log checkpoints. The private key is PKCS#8 PEM (mode 600, as the CA key);
/// the public key, which <c>corral log verify</c> checks against, is SubjectPublicKeyInfo PEM (<c>openssl pkey</c> reads both).
/// </summary>
public sealed class CheckpointSigner
{
    public const string KeyFileName = "corral-flowlog.key";
    public const string PublicKeyFileName = "corral-flowlog.pub";

    private readonly Ed25519PrivateKeyParameters _key;

    private CheckpointSigner(Ed25519PrivateKeyParameters key)
    {
        _key = key;
        PublicKey = new CheckpointPublicKey(key.GeneratePublicKey());
    }

    public CheckpointPublicKey PublicKey { get; }

    /// <summary>The short id checkpoints name their key by.</summary>
    public string KeyId => PublicKey.Id;

    public static CheckpointSigner Create() => new(new Ed25519PrivateKeyParameters(new SecureRandom()));

    public byte[] Sign(byte[] message)
    {
        var signer = new Ed25519Signer();
        signer.Init(true, _key);
        signer.BlockUpdate(message, 0, message.Length);
        return signer.GenerateSignature();
    }

    /// <summary>Writes the private key (owner-only from its creation) and the public key into <paramref name="directory"/>.</summary>
    public (string KeyPath, string PublicKeyPath) Save(string directory, bool overwrite = false)
    {
        Directory.CreateDirectory(directory);
        var keyPath = Path.Combine(directory, KeyFileName);
        var publicPath = Path.Combine(directory, PublicKeyFileName);
        if (!overwrite && (File.Exists(keyPath) || File.Exists(publicPath)))
            throw new SigningKeyException($"{directory} already holds a flow-log signing key; refusing to overwrite it");
        // PKCS#8 v1 (RFC 8410), without the optional public key: the form OpenSSL writes and reads.
        var der = new PrivateKeyInfo(new AlgorithmIdentifier(EdECObjectIdentifiers.id_Ed25519), new DerOctetString(_key.GetEncoded())).GetDerEncoded();
        File.Delete(keyPath);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var stream = new FileStream(keyPath, options))
        using (var writer = new StreamWriter(stream))
            writer.Write(new string(PemEncoding.Write("PRIVATE KEY", der)) + "\n");
        File.WriteAllText(publicPath, PublicKey.ToPem());
        return (keyPath, publicPath);
    }

    /// <summary>Loads a private key; refuses one that group or others can read.</summary>
    public static CheckpointSigner Load(string keyPath)
    {
        if (!File.Exists(keyPath)) throw new SigningKeyException($"flow-log signing key {keyPath} not found");
        if (!OperatingSystem.IsWindows())
        {
            const UnixFileMode OthersOrGroup = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute |
                                               UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;
            var mode = File.GetUnixFileMode(keyPath);
            if ((mode & OthersOrGroup) != 0)
                throw new SigningKeyException($"flow-log signing key {keyPath} can be read by others (mode {Convert.ToString((int)mode, 8)}); run: chmod 600 {keyPath}");
        }
        var der = ReadPem(keyPath, "PRIVATE KEY");
        try
        {
            if (PrivateKeyFactory.CreateKey(PrivateKeyInfo.GetInstance(der)) is Ed25519PrivateKeyParameters key) return new CheckpointSigner(key);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException) { }
        throw new SigningKeyException($"{keyPath} is not an Ed25519 private key (PKCS#8 PEM, as 'corral log keygen' writes)");
    }

    internal static byte[] ReadPem(string path, string label)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new SigningKeyException($"cannot read {path}: {e.Message}"); }
        if (!PemEncoding.TryFind(text, out var fields) || text[fields.Label] != label)
            throw new SigningKeyException($"{path} holds no PEM block '{label}'");
        return Convert.FromBase64String(text[fields.Base64Data].ToString());
    }
}

/// <summary>The public half: what a verifier trusts.</summary>
public sealed class CheckpointPublicKey
{
    private readonly Ed25519PublicKeyParameters _key;

    internal CheckpointPublicKey(Ed25519PublicKeyParameters key)
    {
        _key = key;
        Id = Convert.ToHexStringLower(SHA256.HashData(key.GetEncoded()))[..16];
    }

    /// <summary>The first 16 hex digits of the SHA-256 of the raw 32-byte public key.</summary>
    public string Id { get; }

    public bool Verify(byte[] message, byte[] signature)
    {
        if (signature.Length != Ed25519PrivateKeyParameters.SignatureSize) return false;
        var verifier = new Ed25519Signer();
        verifier.Init(false, _key);
        verifier.BlockUpdate(message, 0, message.Length);
        return verifier.VerifySignature(signature);
    }

    public string ToPem() =>
        new string(PemEncoding.Write("PUBLIC KEY", SubjectPublicKeyInfoFactory.CreateSubjectPublicKeyInfo(_key).GetDerEncoded())) + "\n";

    /// <summary>Loads a public key file (or, for convenience, the private key file, whose public half is taken).</summary>
    public static CheckpointPublicKey Load(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new SigningKeyException($"cannot read {path}: {e.Message}"); }
        if (text.Contains("PRIVATE KEY", StringComparison.Ordinal)) return CheckpointSigner.Load(path).PublicKey;
        var der = CheckpointSigner.ReadPem(path, "PUBLIC KEY");
        try
        {
            if (PublicKeyFactory.CreateKey(SubjectPublicKeyInfo.GetInstance(der)) is Ed25519PublicKeyParameters key) return new CheckpointPublicKey(key);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException) { }
        throw new SigningKeyException($"{path} is not an Ed25519 public key (SubjectPublicKeyInfo PEM, as 'corral log keygen' writes)");
    }
}

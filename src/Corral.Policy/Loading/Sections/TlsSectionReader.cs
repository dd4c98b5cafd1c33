using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Corral.Policy.Model;

namespace Corral.Policy.Loading.Sections;

/// <summary>Reads the <c>tls</c> section: what the gateway does with TLS features that hide a flow's name, and the interception CA.</summary>
internal sealed class TlsSectionReader(NodeReader nodes, PolicyInputs inputs)
{
    /// <summary>A CA certificate, or a short chain, is a few KiB.</summary>
    public const int MaxCaBytes = 64 * 1024;

    private static readonly string[] Keys = ["ech", "interceptionCa"];
    private static readonly (string, EchHandling)[] EchWords = [("refuse", EchHandling.Refuse), ("intercept", EchHandling.Intercept)];

    public TlsSettings Read(YNode? node)
    {
        if (nodes.Section(node, "tls", Keys, "tls: { ech: refuse, interceptionCa: corral-ca/corral-ca.crt }") is not { } map) return TlsSettings.Default;
        var ech = NodeReader.Get(map, "ech") is { } e ? nodes.Enum(e, "ech", EchWords) ?? TlsSettings.Default.Ech : TlsSettings.Default.Ech;
        var ca = NodeReader.Get(map, "interceptionCa") is { } c ? ReadInterceptionCa(c) : null;
        return new TlsSettings(ech) { InterceptionCa = ca };
    }

    /// <summary>
    /// Reads the CA certificate file and refuses what cannot be the interception CA: a file that is missing, unreadable or
    /// not PEM, a first certificate that is not a CA, and any private key (the policy and the module it writes are shared).
    /// </summary>
    private InterceptionCa? ReadInterceptionCa(YNode node)
    {
        if (nodes.String(node, "interceptionCa") is not { } relative) return null;
        const string Hint = "point it at the certificate 'corral ca init --out corral-ca' writes (corral-ca/corral-ca.crt) or your own CA's";
        var full = inputs.FullPath(relative);
        var display = PolicyInputs.DisplayPath(full);
        if (!File.Exists(full) && !Directory.Exists(full))
        {
            nodes.Error("ca-not-found", node, $"interception CA certificate '{relative}' not found (looked for {display})", Hint);
            return null;
        }
        if (!BoundedFile.TryRead(full, MaxCaBytes, out var bytes, out var problem))
        {
            nodes.Error("ca-unreadable", node, $"interception CA certificate '{relative}' {problem}");
            return null;
        }
        if (Problem(bytes) is { } wrong)
        {
            nodes.Error("bad-ca", node, $"interception CA certificate '{relative}' {wrong}", Hint);
            return null;
        }
        inputs.Add(full, bytes);
        return new InterceptionCa(relative, node.Location, System.Text.Encoding.ASCII.GetString(bytes));
    }

    private const string PrivateKey = "holds a private key: the policy names the certificate only (the key stays with the gateway and a Terraform variable)";

    /// <summary>What makes the file unfit as the interception CA's certificate, or null.</summary>
    private static string? Problem(byte[] bytes)
    {
        if (bytes.Any(b => b >= 0x80)) return "is not a PEM certificate (not ASCII text)";
        var text = System.Text.Encoding.ASCII.GetString(bytes);
        // Any mention, not only a block that parses: a key whose base64 is damaged is still a key, and the file is copied into the module.
        if (text.Contains("PRIVATE KEY", StringComparison.OrdinalIgnoreCase)) return PrivateKey;
        var rest = text.AsSpan();
        X509Certificate2? first = null;
        try
        {
            while (PemEncoding.TryFind(rest, out var fields))
            {
                var label = rest[fields.Label].ToString();
                if (label != "CERTIFICATE") return $"holds a '{label}' block: only CERTIFICATE blocks belong in it";
                if (first is null)
                {
                    var der = new byte[fields.DecodedDataLength];
                    if (!Convert.TryFromBase64Chars(rest[fields.Base64Data], der, out _)) return "is not a PEM certificate (bad base64)";
                    try { first = X509CertificateLoader.LoadCertificate(der); }
                    catch (CryptographicException) { return "is not a PEM certificate (the first CERTIFICATE block does not parse)"; }
                }
                rest = rest[fields.Location.End..];
            }
            if (first is null) return "is not a PEM certificate (no '-----BEGIN CERTIFICATE-----' block)";
            var constraints = first.Extensions.OfType<X509BasicConstraintsExtension>().FirstOrDefault();
            if (constraints is not { CertificateAuthority: true })
                return $"is not a CA certificate ('{first.Subject}' has no basic constraints CA:TRUE), so it cannot sign the certificates decryption presents";
            return null;
        }
        finally { first?.Dispose(); }
    }
}

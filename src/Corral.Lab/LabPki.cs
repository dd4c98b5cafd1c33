using System.Security.Cryptography.X509Certificates;
using Corral.Certificates;

namespace Corral.Lab;

/// <summary>
/// The lab's certificates, shared by both passes: a public CA for the internet stand-ins, Microsoft's own CA for the
/// platform endpoints (whose leaves the agent pins), and Corral's interception CA (which the agent trusts, as a
/// deployment installs it in the agent's image).
/// </summary>
internal sealed class LabPki : IDisposable
{
    public LabPki()
    {
        PublicCa = CertificateAuthority.Create(new CaOptions { CommonName = "Lab Public Root CA" });
        MicrosoftCa = CertificateAuthority.Create(new CaOptions { CommonName = "Lab Microsoft Root CA" });
        InterceptionCa = CertificateAuthority.Create(new CaOptions { CommonName = "Corral Lab Interception CA" });
        var publicMinter = new LeafMinter(PublicCa);
        var microsoftMinter = new LeafMinter(MicrosoftCa);
        Leaves = LabHosts.HttpsStandIns.ToDictionary(s => s.Name, s => IsPinned(s) ? microsoftMinter.Mint(s.Name) : publicMinter.Mint(s.Name));
        Pins = LabHosts.HttpsStandIns.Where(IsPinned).ToDictionary(s => s.Name, s => Leaves[s.Name].Thumbprint);
    }

    public CertificateAuthority PublicCa { get; }
    public CertificateAuthority MicrosoftCa { get; }
    public CertificateAuthority InterceptionCa { get; }

    /// <summary>Each stand-in's own certificate, by name.</summary>
    public IReadOnlyDictionary<string, X509Certificate2> Leaves { get; }

    /// <summary>The thumbprints the agent pins, by name (Microsoft's platform endpoints).</summary>
    public IReadOnlyDictionary<string, string> Pins { get; }

    /// <summary>The roots the gateway verifies upstream certificates against.</summary>
    public X509Certificate2Collection UpstreamRoots => [PublicCa.Certificate, MicrosoftCa.Certificate];

    private static bool IsPinned(StandIn s) => s == LabHosts.Login || s == LabHosts.Registry;

    public void Dispose()
    {
        foreach (var leaf in Leaves.Values) leaf.Dispose();
        PublicCa.Dispose();
        MicrosoftCa.Dispose();
        InterceptionCa.Dispose();
    }
}

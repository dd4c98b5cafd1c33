using Corral.Policy.Model;

namespace Corral.Policy.Loading.Sections;

/// <summary>Reads the <c>tls</c> section: what the gateway does with TLS features that hide a flow's name.</summary>
internal sealed class TlsSectionReader(NodeReader nodes)
{
    private static readonly string[] Keys = ["ech"];
    private static readonly (string, EchHandling)[] EchWords = [("refuse", EchHandling.Refuse), ("intercept", EchHandling.Intercept)];

    public TlsSettings Read(YNode? node)
    {
        if (nodes.Section(node, "tls", Keys, "tls: { ech: refuse }") is not { } map) return TlsSettings.Default;
        var ech = NodeReader.Get(map, "ech") is { } e ? nodes.Enum(e, "ech", EchWords) ?? TlsSettings.Default.Ech : TlsSettings.Default.Ech;
        return new TlsSettings(ech);
    }
}

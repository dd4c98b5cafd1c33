using Corral.Policy.Model;

namespace Corral.Policy.Loading.Sections;

/// <summary>Reads the <c>dns</c> section: how the gateway's resolver treats names reachable only by address.</summary>
internal sealed class DnsSectionReader(NodeReader nodes)
{
    private static readonly string[] Keys = ["mode"];

    public DnsSettings Read(YNode? node)
    {
        if (nodes.Section(node, "dns", Keys, "dns: { mode: enforce }") is not { } map) return DnsSettings.Default;
        var mode = NodeReader.Get(map, "mode") is { } m ? nodes.Enum(m, "mode", Words.Modes) ?? DnsSettings.Default.Mode : DnsSettings.Default.Mode;
        return new DnsSettings(mode);
    }
}

namespace Corral.Policy.Model;

/// <summary>What the gateway does with a ClientHello carrying Encrypted Client Hello (ECH) on a flow it would splice.</summary>
public enum EchHandling
{
    /// <summary>Refuse the flow: the name the client really asks for is hidden, so the decision on the visible one proves nothing.</summary>
    Refuse,

    /// <summary>Decrypt the flow instead of splicing it (when the gateway has a CA): the client's TLS ends at the gateway,
    /// which ignores the extension; a real ECH client then fails closed, a GREASE one carries on.</summary>
    Intercept,
}

/// <summary>The gateway's handling of TLS features that hide what a flow was decided on (the <c>tls:</c> section).</summary>
/// <param name="Ech">Encrypted Client Hello on a flow that would be spliced.</param>
public sealed record TlsSettings(EchHandling Ech)
{
    /// <summary>Refuse: a policy without a <c>tls:</c> section never splices a ClientHello whose real name is hidden.</summary>
    public static readonly TlsSettings Default = new(EchHandling.Refuse);
}

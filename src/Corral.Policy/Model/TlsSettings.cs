using Corral.Policy.Diagnostics;

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

/// <summary>The certificate of the CA that signs decrypted connections (<c>tls.interceptionCa</c>); never its key.</summary>
/// <param name="Path">The path as written in the policy, relative to the policy file.</param>
/// <param name="Location">Where the path is written.</param>
/// <param name="Pem">The certificate(s) as read and checked: the first is a CA certificate, nothing else is in the file.</param>
public sealed record InterceptionCa(string Path, SourceLocation Location, string Pem);

/// <summary>The gateway's handling of TLS features that hide what a flow was decided on, and the interception CA (the <c>tls:</c> section).</summary>
/// <param name="Ech">Encrypted Client Hello on a flow that would be spliced.</param>
public sealed record TlsSettings(EchHandling Ech)
{
    /// <summary>Refuse: a policy without a <c>tls:</c> section never splices a ClientHello whose real name is hidden.</summary>
    public static readonly TlsSettings Default = new(EchHandling.Refuse);

    /// <summary>The interception CA's certificate the policy declares, or null: decrypting rules need one the agents and the controller trust.</summary>
    public InterceptionCa? InterceptionCa { get; init; }
}

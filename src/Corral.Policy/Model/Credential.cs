using Corral.Policy.Diagnostics;

namespace Corral.Policy.Model;

/// <summary>Where the gateway reads a credential's value. The policy names the place, never the value.</summary>
public enum CredentialSourceKind
{
    /// <summary>A file on the gateway's host (relative to the policy's folder), read again when it changes.</summary>
    File,
    /// <summary>An environment variable of the gateway process.</summary>
    Environment,
}

/// <summary>
/// Where a credential's value comes from: a kind and what that kind needs (a path, a variable name). A new kind (an
/// Azure Key Vault secret read with the gateway's managed identity) is one more case here and one more reader in the
/// gateway; the policy format stays <c>source: { KIND: REFERENCE }</c>.
/// </summary>
public sealed record CredentialSource(CredentialSourceKind Kind, string Reference, SourceLocation Location)
{
    /// <summary>For a file: its full path (relative references resolve against the policy's folder). Never read by the policy core.</summary>
    public string? FullPath { get; init; }

    public override string ToString() => Kind == CredentialSourceKind.File ? $"file {Reference}" : $"environment variable {Reference}";
}

/// <summary>Which part of a request carries a credential: a header's value or a query parameter's.</summary>
public enum CredentialPlacementKind { Header, Query }

/// <summary>The one place in a request where the gateway puts a credential's value in for its placeholder.</summary>
public sealed record CredentialPlacement(CredentialPlacementKind Kind, string Name)
{
    public override string ToString() => Kind == CredentialPlacementKind.Header ? $"header {Name}" : $"query parameter {Name}";
}

/// <summary>
/// A secret the agent never holds: the agent sends <see cref="Placeholder"/> where the secret belongs, and the gateway
/// puts the value in — only on a decrypted request to one of <see cref="Destinations"/> (web groups), only at
/// <see cref="Placement"/>. The placeholder anywhere else is an attempted exfiltration, refused and recorded.
/// </summary>
public sealed record Credential(
    string Name,
    SourceLocation Location,
    CredentialSource Source,
    IReadOnlyList<Located<string>> Destinations,
    CredentialPlacement Placement,
    string Placeholder)
{
    /// <summary>The placeholder an agent is given when the policy names none.</summary>
    public static string DefaultPlaceholder(string name) => $"corral-cred-{name}";
}

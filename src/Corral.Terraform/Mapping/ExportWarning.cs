using Corral.Policy.Diagnostics;

namespace Corral.Terraform.Mapping;

/// <summary>
/// Something Corral enforces (or reads) that the Aviatrix module cannot express. Printed on stderr and listed in the
/// module's README, so nothing the policy says is dropped silently.
/// </summary>
public sealed record ExportWarning(string Code, SourceLocation Location, string Message)
{
    /// <summary>The compiler-style line: <c>FILE:LINE:COL: warning: message [code]</c>.</summary>
    public override string ToString() => $"{Location}: warning: {Message} [{Code}]";
}

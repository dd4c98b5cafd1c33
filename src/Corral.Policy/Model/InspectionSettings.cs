using Corral.Policy.Diagnostics;

namespace Corral.Policy.Model;

/// <summary>A named secret pattern searched in cleartext requests (a regular expression, matched in linear time).</summary>
public sealed record SecretPattern(string Name, string Regex, SourceLocation Location);

/// <summary>
/// Payload inspection of requests Corral sees in cleartext (decrypted tool calls, plain HTTP): which secret patterns
/// deny a request. The value found is never logged, only the pattern's name.
/// </summary>
public sealed record InspectionSettings(IReadOnlyList<string> BuiltIns, IReadOnlyList<SecretPattern> Custom, bool ScanAuthorizationHeader)
{
    /// <summary>Every built-in pattern on; the Authorization header (credentials meant for the destination) skipped.</summary>
    public static readonly InspectionSettings Default = new(BuiltInPatterns.Names, [], false);
}

/// <summary>The secret patterns Corral knows by name.</summary>
public static class BuiltInPatterns
{
    public static readonly IReadOnlyDictionary<string, string> All = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["private-key"] = @"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----",
        ["azure-storage-key"] = @"AccountKey=[A-Za-z0-9+/]{86}==",
        ["azure-sas-token"] = @"\bsv=\d{4}-\d{2}-\d{2}\b[^\s""'<>]{0,512}\bsig=[A-Za-z0-9%/+]{30,}",
        ["aws-access-key"] = @"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
        ["jwt"] = @"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
    };

    public static readonly IReadOnlyList<string> Names = All.Keys.ToArray();
}

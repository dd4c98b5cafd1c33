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
    /// <summary>Every built-in pattern on; the headers that carry credentials meant for the destination skipped.</summary>
    public static readonly InspectionSettings Default = new(BuiltInPatterns.Names, [], false);

    /// <summary>
    /// The one header skipped unless <see cref="ScanAuthorizationHeader"/> is set: Authorization carries the caller's
    /// credential for the destination in the scheme HTTP defines for it. Other headers are scanned whatever their name:
    /// a key in X-Api-Key is as easily a stolen key sent where it does not belong (an AWS key to an approved MCP server,
    /// one provider's key to another's host) as the destination's own, and the gateway cannot tell which; keys the agent
    /// must send in such headers belong in the gateway's credentials, not the agent's hands.
    /// </summary>
    public static readonly IReadOnlySet<string> DestinationCredentialHeaders = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { "Authorization" };

    /// <summary>Whether payload inspection reads a request header of this name.</summary>
    public bool ScansHeader(string name) => ScanAuthorizationHeader || !DestinationCredentialHeaders.Contains(name);
}

/// <summary>
/// The secret patterns Corral knows by name. The formats are the providers' documented token shapes (GitHub's
/// token prefixes, GitLab's token prefixes, Slack's, Stripe's key prefixes, AWS key-id prefixes) and the rule set
/// gitleaks maintains for the rest; docs/policy.md lists each pattern and where it comes from. Each is anchored on
/// a prefix or a fixed shape, so ordinary text does not match; the one generic pattern also needs a high-entropy value.
/// </summary>
public static class BuiltInPatterns
{
    public static readonly IReadOnlyDictionary<string, string> All = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["private-key"] = @"-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----",
        ["azure-storage-key"] = @"AccountKey=[A-Za-z0-9+/]{86}==",
        ["azure-sas-token"] = @"\bsv=\d{4}-\d{2}-\d{2}\b[^\s""'<>]{0,512}\bsig=[A-Za-z0-9%/+]{30,}",
        ["azure-shared-access-key"] = @"SharedAccessKey=[A-Za-z0-9+/]{43}=",
        ["azure-ad-client-secret"] = @"(?:^|[\\'""`\s>=:(,)])[A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.-]{31,34}(?:$|[\\'""`\s<),])",
        ["aws-access-key"] = @"\b(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}\b",
        ["aws-secret-key"] = @"(?i)\baws_?(?:secret_?access_?key|secret_?key)\b[""']?\s{0,3}[:=]{1,2}\s{0,3}[""']?[A-Za-z0-9/+]{40}(?:[^A-Za-z0-9/+]|$)",
        ["github-token"] = @"\bgh[pousr]_[A-Za-z0-9]{36,251}\b",
        ["github-fine-grained-token"] = @"\bgithub_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59,200}\b",
        ["gitlab-token"] = @"\b(?:gl(?:pat|oas|dt|rt|soat|ffct|cbt|imt|agent|ptt|ft)-[A-Za-z0-9_-]{20,}|GR1348941[A-Za-z0-9_-]{20})",
        ["slack-token"] = @"\b(?:xox[abposr]|xoxe\.xox[bp]|xoxe)-[0-9]{1,13}-[A-Za-z0-9-]{10,}|\bxapp-[0-9]-[A-Z0-9]+-[0-9]+-[a-z0-9]+",
        ["slack-webhook"] = @"hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/]{43,56}",
        ["openai-api-key"] = @"\bsk-(?:(?:proj|svcacct|admin)-)?[A-Za-z0-9_-]{20,160}T3BlbkFJ[A-Za-z0-9_-]{20,160}",
        ["anthropic-api-key"] = @"\bsk-ant-(?:api|admin)[0-9]{2}-[A-Za-z0-9_-]{80,120}",
        ["google-api-key"] = @"\bAIza[0-9A-Za-z_-]{35}",
        ["stripe-key"] = @"\b(?:sk|rk)_(?:live|test|prod)_[A-Za-z0-9]{10,99}\b",
        ["jwt"] = @"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
        ["generic-secret"] = @"(?i)\b(?:api[_-]?key|apikey|access[_-]?key|secret[_-]?key|private[_-]?key|client[_-]?secret|(?:api|auth|access|refresh|bearer)[_-]?token|secret|token|password|passwd)\b[""']?\s{0,3}(?::=|=>|[:=])\s{0,3}[""']?[A-Za-z0-9+/_.~=-]{20,200}",
    };

    /// <summary>
    /// Patterns that match an assignment rather than a fixed shape: a match counts only when its value has a digit,
    /// a letter and at least this many bits of entropy per character (gitleaks' generic-api-key uses 3.5).
    /// </summary>
    public static readonly IReadOnlyDictionary<string, double> MinEntropy = new Dictionary<string, double>(StringComparer.Ordinal)
    {
        ["generic-secret"] = 3.5,
    };

    /// <summary>
    /// Literals every match of a pattern contains (as gitleaks' keywords): text holding none of them is not run
    /// through the pattern at all, which keeps the plain case to a few vectorized searches. Case-insensitive where
    /// the pattern is.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, (string[] Words, bool IgnoreCase)> Keywords = new Dictionary<string, (string[], bool)>(StringComparer.Ordinal)
    {
        ["private-key"] = (["PRIVATE KEY"], false),
        ["azure-storage-key"] = (["AccountKey="], false),
        ["azure-sas-token"] = (["sig="], false),
        ["azure-shared-access-key"] = (["SharedAccessKey="], false),
        ["azure-ad-client-secret"] = (["Q~"], false),
        ["aws-access-key"] = (["A3T", "AKIA", "ASIA", "ABIA", "ACCA"], false),
        ["aws-secret-key"] = (["aws"], true),
        ["github-token"] = (["ghp_", "gho_", "ghu_", "ghs_", "ghr_"], false),
        ["github-fine-grained-token"] = (["github_pat_"], false),
        ["gitlab-token"] = (["glpat-", "gloas-", "gldt-", "glrt-", "glsoat-", "glffct-", "glcbt-", "glimt-", "glagent-", "glptt-", "glft-", "GR1348941"], false),
        ["slack-token"] = (["xox", "xapp-"], false),
        ["slack-webhook"] = (["hooks.slack.com"], false),
        ["openai-api-key"] = (["T3BlbkFJ"], false),
        ["anthropic-api-key"] = (["sk-ant-"], false),
        ["google-api-key"] = (["AIza"], false),
        ["stripe-key"] = (["k_live_", "k_test_", "k_prod_"], false),
        ["jwt"] = (["eyJ"], false),
        ["generic-secret"] = (["key", "secret", "token", "password", "passwd"], true),
    };

    public static readonly IReadOnlyList<string> Names = All.Keys.ToArray();
}

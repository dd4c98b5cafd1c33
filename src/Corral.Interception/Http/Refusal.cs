using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Corral.Interception.Http;

/// <summary>
/// One refusal, in the one shape every listener answers with: a status, a JSON body (error code, the rule or check,
/// destination, reason, and advice not to retry another way) and an <c>X-Corral-Rule</c> or <c>X-Corral-Check</c>
/// header. Agents read a bare 403 as a network fault and route around it; this tells them plainly not to.
/// </summary>
public sealed record Refusal(int Status, string? Rule, string? Check, string Destination, string Reason)
{
    public const string RuleHeader = "X-Corral-Rule";
    public const string CheckHeader = "X-Corral-Check";
    public const string Advice = "The egress policy does not allow this. Do not retry it another way (other address, port, proxy, protocol, encoding or tool); ask the operator to change the policy if this access is needed.";

    /// <summary>An agent over its budget: a 429 whose advice is to wait, not to go another way.</summary>
    public static Refusal AgentOverBudget(string destination, string reason) =>
        ByCheck(GatewayCheck.AgentBudget, destination, reason, 429) with
        {
            AdviceText = "This agent has used its budget for now. Wait and retry later; do not retry another way. Ask the operator if the budget is too small.",
        };

    /// <summary>A denial by a policy rule (null: the default action).</summary>
    public static Refusal ByRule(string? rule, string destination, string reason, int status = 403) => new(status, rule ?? "(default-action)", null, destination, reason);

    /// <summary>A refusal by one of the gateway's own checks (<see cref="GatewayCheck"/>).</summary>
    public static Refusal ByCheck(string check, string destination, string reason, int status = 403) => new(status, null, check, destination, reason);

    /// <summary>
    /// A credential's placeholder headed where it may not go. The credential's name is not quoted: it is a category of
    /// refusal, like a pattern's name (replay groups refusals by their text with quoted values left out).
    /// </summary>
    public static Refusal CredentialExfiltration(Policy.Compilation.CompiledCredential credential, string where, string destination) =>
        ByCheck(GatewayCheck.CredentialExfiltration, destination,
            $"the request carries the placeholder of credential {credential.Name} in {where}, where it may not go " +
            $"(only in {credential.Placement} of a decrypted request to its web groups)");

    /// <summary>Advice in place of the policy's (e.g. for a refusal at a limit, where retrying later is right).</summary>
    public string? AdviceText { get; init; }

    /// <summary>For a 407: the realm of the <c>Proxy-Authenticate</c> challenges (Basic and Bearer) the answer carries.</summary>
    public string? ProxyAuthenticateRealm { get; init; }

    /// <summary>
    /// The client has no valid agent token: a 407 with Basic and Bearer challenges. The reason never quotes a token.
    /// </summary>
    public static Refusal AgentUnauthenticated(string destination, string reason, string realm) =>
        ByCheck(GatewayCheck.AgentUnauthenticated, destination, reason, 407) with
        {
            ProxyAuthenticateRealm = realm,
            AdviceText = "This gateway admits each agent by its own token. Send 'Proxy-Authorization: Bearer TOKEN' (or Basic with AGENT:TOKEN) " +
                         "from the agent's own addresses; ask the operator for a token ('corral agent token NAME') if this agent has none.",
        };

    /// <summary>What the flow record's refusal field says.</summary>
    public string RecordText => Check is null ? Reason : $"{Check}: {Reason}";

    public string ErrorCode => Check is null ? "blocked_by_policy" : Status switch
    {
        400 or 431 or 505 => "bad_request",
        407 => "proxy_authentication_required",
        429 => "over_budget",
        501 => "not_supported",
        502 or 504 => "upstream_failed",
        503 => "unavailable",
        _ => "refused_by_gateway",
    };

    public byte[] ToHttpResponse()
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteString("error", ErrorCode);
            if (Rule is not null) w.WriteString("rule", Rule);
            if (Check is not null) w.WriteString("check", Check);
            w.WriteString("destination", Destination);
            w.WriteString("reason", Reason);
            w.WriteString("advice", AdviceText ?? Advice);
            w.WriteEndObject();
        }
        stream.WriteByte((byte)'\n');
        var body = stream.ToArray();
        var head = new StringBuilder(256);
        head.Append("HTTP/1.1 ").Append(Status).Append(' ').Append(Phrase(Status)).Append("\r\n");
        head.Append(Check is null ? RuleHeader : CheckHeader).Append(": ").Append(Printable(Rule ?? Check!)).Append("\r\n");
        if (ProxyAuthenticateRealm is { } realm)
            head.Append("Proxy-Authenticate: Basic realm=\"").Append(Printable(realm)).Append("\"\r\nProxy-Authenticate: Bearer realm=\"").Append(Printable(realm)).Append("\"\r\n");
        head.Append("Content-Type: application/json\r\nContent-Length: ").Append(body.Length).Append("\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n");
        return [.. Encoding.ASCII.GetBytes(head.ToString()), .. body];
    }

    public static string Phrase(int status) => status switch
    {
        400 => "Bad Request", 403 => "Forbidden", 407 => "Proxy Authentication Required", 408 => "Request Timeout", 429 => "Too Many Requests", 413 => "Content Too Large", 415 => "Unsupported Media Type",
        431 => "Request Header Fields Too Large", 501 => "Not Implemented", 502 => "Bad Gateway", 503 => "Service Unavailable",
        504 => "Gateway Timeout", 505 => "HTTP Version Not Supported", _ => "Error",
    };

    /// <summary>Text safe for a header value and a log line: printable ASCII, at most 80 characters.</summary>
    public static string Printable(string s) => new(s.Take(80).Select(c => c is >= ' ' and < (char)0x7F ? c : '?').ToArray());
}

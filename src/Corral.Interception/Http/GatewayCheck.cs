namespace Corral.Interception.Http;

/// <summary>
/// The gateway's own checks, by the names that refusals carry in the flow record, the <c>X-Corral-Check</c> header and
/// the body. A refusal names either the policy rule that denied or one of these.
/// </summary>
public static class GatewayCheck
{
    /// <summary>The CONNECT authority, TLS SNI, Host header and absolute request target do not all name the same host.</summary>
    public const string NameMismatch = "name-mismatch";
    /// <summary>A TLS stream to a named destination whose ClientHello names no server.</summary>
    public const string NoSni = "no-sni";
    /// <summary>Something other than TLS on port 443.</summary>
    public const string NotTlsOn443 = "not-tls-on-443";
    /// <summary>A spliced TLS handshake the gateway cannot vouch for: a later ClientHello that disagrees with the first
    /// (after a HelloRetryRequest), one the server did not ask for, renegotiation in the clear, or records out of place.</summary>
    public const string TlsHandshake = "tls-handshake";
    /// <summary>A ClientHello with Encrypted Client Hello on a flow permitted by name that would be spliced: the name it really asks for is hidden.</summary>
    public const string EncryptedClientHello = "encrypted-client-hello";
    /// <summary>The destination is the gateway itself.</summary>
    public const string ProxyLoop = "proxy-loop";
    /// <summary>A permitted name that did not resolve.</summary>
    public const string Unresolved = "unresolved";
    /// <summary>Bytes the gateway's parsers refuse: a malformed request, ClientHello or CONNECT target.</summary>
    public const string Malformed = "malformed-request";
    /// <summary>The request head or body carries a secret.</summary>
    public const string PayloadInspection = "payload-inspection";
    /// <summary>A credential's placeholder headed anywhere but its place: another host, header or parameter, a body, plain HTTP, a name.</summary>
    public const string CredentialExfiltration = "credential-exfiltration";
    /// <summary>A credential the request needs whose value the gateway cannot read (a missing file, an unset variable, a bad value).</summary>
    public const string CredentialUnavailable = "credential-unavailable";
    /// <summary>A body that inspection cannot read (an unknown or broken Content-Encoding, or over the bound once decoded).</summary>
    public const string UninspectableBody = "uninspectable-body";
    /// <summary>A protocol upgrade the gateway does not carry: anything but WebSocket, or WebSocket on a rule without <c>websocket: allow</c>.</summary>
    public const string Upgrade = "upgrade";
    /// <summary>A WebSocket frame or message the gateway refused: malformed (RFC 6455), over the rule's bound, or an extension it cannot inspect.</summary>
    public const string WebSocket = "websocket";
    /// <summary>The upstream could not be reached, refused, reset, or failed TLS verification.</summary>
    public const string Upstream = "upstream";
    /// <summary>A connection that was not redirected to the transparent listener.</summary>
    public const string NotRedirected = "not-redirected";
    /// <summary>A flow whose rule decides MCP calls, that the gateway cannot decrypt (no CA, no SNI, not TLS).</summary>
    public const string McpNotDecrypted = "mcp-not-decrypted";
    /// <summary>The policy has agents and the client presented no valid token of one (missing, unknown, or from outside the agent's CIDRs), with no rule letting it through without one.</summary>
    public const string AgentUnauthenticated = "agent-unauthenticated";
    /// <summary>An agent over its budget of requests per minute or bytes sent upstream per hour.</summary>
    public const string AgentBudget = "agent-budget";
    /// <summary>Over the gateway's connection limit.</summary>
    public const string ConnectionLimit = "connection-limit";
    /// <summary>The flow log cannot record and the operator asked to fail closed (<c>--flow-log-fail-closed</c>).</summary>
    public const string FlowLog = "flow-log";
}

using System.Net;
using Corral.Policy.Addressing;
using Corral.Policy.Model;

namespace Corral.Policy.Compilation;

/// <summary>The transport of a flow.</summary>
public enum FlowProtocol { Tcp, Udp, Icmp }

/// <summary>
/// The facts of one flow that a decision needs, gathered by the gateway (or given to <c>explain</c>):
/// source address, normalized host name if any, the destination addresses the name resolved to (or the literal),
/// port, and the request target when it has been seen (plain HTTP, or decrypted TLS).
/// </summary>
public readonly record struct Flow
{
    public required IPAddress Source { get; init; }

    /// <summary>
    /// The agent the client authenticated as (<see cref="CompiledAgents.Identify"/>), or null: rules naming that agent
    /// as a source match as well as those naming the source address's groups. A name the policy has no agent for matches none.
    /// </summary>
    public string? Agent { get; init; }

    /// <summary>Normalized host name (see <see cref="HostName.TryNormalize"/>), or null for an address-only flow.</summary>
    public string? Host { get; init; }

    /// <summary>Candidate destination addresses. Empty is denied unless <see cref="AssumePublicIfUnresolved"/> is set.</summary>
    public IReadOnlyList<IPAddress> Destinations { get; init; }

    /// <summary>
    /// For <c>explain</c> and lints only: decide a name with no addresses as if it resolved to a public address in no
    /// smart group. The gateway never sets it, so a flow it could not resolve is denied.
    /// </summary>
    public bool AssumePublicIfUnresolved { get; init; }

    public int Port { get; init; }
    public FlowProtocol Protocol { get; init; }

    /// <summary>
    /// The request target as sent, in origin form (path and query, e.g. <c>/v1//items?x=1</c>), when seen; null at
    /// connection level. Only a URL filter reads it: the policy normalizes it then (<see cref="UrlPath.TryNormalize(string, out string, out string?)"/>),
    /// and a path that cannot be normalized matches no URL filter. Rules without URL filters never look at it.
    /// </summary>
    public string? Path { get; init; }

    /// <summary>
    /// Whether the flow is TLS, when known; rules with requireTls match only true. Before resolving
    /// (<see cref="CompiledPolicy.DecideBeforeResolving(in Flow)"/>) null means "not known yet": such a rule could still match.
    /// </summary>
    public bool? IsTls { get; init; }

    public Flow()
    {
        Destinations = [];
        Protocol = FlowProtocol.Tcp;
    }
}

/// <summary>A destination as written by a user or a client: a host name, or an IP literal in any spelling.</summary>
public readonly record struct Destination(string? Host, IPAddress? Address)
{
    /// <summary>Reads "name", "1.2.3.4", "[::1]", "0x7f000001" …; an IP literal is always an address, never a name.</summary>
    public static bool TryParse(string text, out Destination destination, out string? error)
    {
        destination = default;
        if (IpLiteral.TryParse(text, out var address))
        {
            destination = new Destination(null, address);
            error = null;
            return true;
        }
        if (text.AsSpan().IndexOfAny(":[]/@ ") >= 0)
        {
            error = "not a host name or IP address";
            return false;
        }
        // As browsers do (WHATWG URL): a name whose last label is a number must be an IPv4 address, or nothing.
        var lastLabel = text.TrimEnd('.');
        lastLabel = lastLabel[(lastLabel.LastIndexOf('.') + 1)..];
        if (lastLabel.Length > 0 && (lastLabel.All(char.IsAsciiDigit) ||
            (lastLabel.Length > 1 && lastLabel[0] == '0' && (lastLabel[1] is 'x' or 'X') && lastLabel[2..].All(char.IsAsciiHexDigit))))
        {
            error = "looks like an IP address but is not a valid one";
            return false;
        }
        if (!HostName.TryNormalize(text, out var host, out error)) return false;
        if (IpLiteral.TryParse(host, out address))
        {
            destination = new Destination(null, address); // e.g. an IDN form that folds into digits
            return true;
        }
        destination = new Destination(host, null);
        return true;
    }
}

/// <summary>Why a verdict came out as it did.</summary>
public enum DecisionReason
{
    /// <summary>A rule matched and its action is carried out.</summary>
    RuleMatched,
    /// <summary>A rule in watch mode matched; its action is logged, not carried out.</summary>
    WatchedRuleMatched,
    /// <summary>No rule matched; the policy's defaultAction applies.</summary>
    DefaultAction,
    /// <summary>The flow had no destination address to decide on; denied.</summary>
    NoDestinationAddress,
    /// <summary>The host name was not in normalized form (a caller bug); denied rather than risk a mismatch.</summary>
    HostNotNormalized,
}

/// <summary>The outcome of <see cref="CompiledPolicy.Decide"/>: what to do with a flow and why.</summary>
public readonly record struct Verdict(
    RuleAction Action,
    CompiledRule? Rule,
    bool Enforced,
    bool Decrypt,
    DecisionReason Reason,
    int AddressIndex,
    bool UrlFiltersPending,
    CompiledRule? GuardSkippedRule)
{
    public int? Priority => Rule?.Priority;

    /// <summary>True when bytes may flow: a permit, or a deny that is only watched.</summary>
    public bool LetsThrough => Action == RuleAction.Permit || !Enforced;

    /// <summary>One sentence for logs and explain.</summary>
    public string ReasonText
    {
        get
        {
            var text = Reason switch
            {
                DecisionReason.RuleMatched => $"matched rule '{Rule!.Name}'",
                DecisionReason.WatchedRuleMatched => $"matched rule '{Rule!.Name}' in watch mode: logged, not enforced",
                DecisionReason.NoDestinationAddress => "no destination address to decide on: denied",
                DecisionReason.HostNotNormalized => "host name not in normalized form: denied",
                _ => $"no rule matched: default action {(Action == RuleAction.Permit ? "permit" : "deny")}",
            };
            if (UrlFiltersPending) text += "; URL filters apply to each request";
            if (GuardSkippedRule is { } skipped)
                text += $"; rule '{skipped.Name}' permits the name but not an internal or platform address";
            return text;
        }
    }
}

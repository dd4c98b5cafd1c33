using System.Net;
using System.Security.Cryptography;
using System.Text;
using Corral.Policy.Addressing;
using Corral.Policy.Model;

namespace Corral.Policy.Compilation;

/// <summary>How a client's claim to be an agent came out.</summary>
public enum AgentAuthentication
{
    /// <summary>No Proxy-Authorization header.</summary>
    Missing,
    /// <summary>A token of a known agent, presented from inside its CIDRs.</summary>
    Authenticated,
    /// <summary>A header that is not <c>Bearer TOKEN</c> or <c>Basic base64(AGENT:TOKEN)</c>, or a token no agent has.</summary>
    Invalid,
    /// <summary>A known agent's token presented from an address outside its CIDRs (a stolen token, or a wrong subnet).</summary>
    OutsideCidrs,
}

/// <summary>The outcome of <see cref="CompiledAgents.Identify"/>: the agent, when authenticated, and a sentence the agent can read when not.</summary>
public readonly record struct AgentIdentity(AgentAuthentication Outcome, CompiledAgent? Agent, string Reason)
{
    public bool IsAuthenticated => Outcome == AgentAuthentication.Authenticated;
}

/// <summary>One agent, compiled: its token hashes, its CIDRs and its budget.</summary>
public sealed class CompiledAgent
{
    internal CompiledAgent(Agent agent)
    {
        Agent = agent;
        Hashes = agent.TokenHashes.Select(h => h.Value).ToArray();
        Cidrs = agent.Cidrs.Select(c => c.Value).ToArray();
    }

    public Agent Agent { get; }
    public string Name => Agent.Name;
    public AgentBudget? Budget => Agent.Budget;
    internal byte[][] Hashes { get; }
    internal IpPrefix[] Cidrs { get; }

    public bool MayConnectFrom(IPAddress address)
    {
        foreach (var cidr in Cidrs)
            if (cidr.Contains(address)) return true;
        return false;
    }
}

/// <summary>
/// A policy's agents, compiled: the one place a <c>Proxy-Authorization</c> header becomes an agent. Tokens are
/// compared by their SHA-256 in constant time against every agent's hashes (no early exit), and a token counts only
/// from inside its agent's CIDRs.
/// </summary>
public sealed class CompiledAgents
{
    public static readonly CompiledAgents None = new([]);

    /// <summary>The realm a 407 names in its <c>Proxy-Authenticate</c> challenges.</summary>
    public const string Realm = "corral";

    private readonly CompiledAgent[] _agents;

    internal CompiledAgents(IReadOnlyList<Agent> agents) => _agents = agents.Select(a => new CompiledAgent(a)).ToArray();

    public IReadOnlyList<CompiledAgent> All => _agents;
    public bool Any => _agents.Length > 0;

    public CompiledAgent? Find(string name)
    {
        foreach (var agent in _agents) if (agent.Name == name) return agent;
        return null;
    }

    /// <summary>A new token: 256 random bits, base64url, with a prefix that says what it is (and that secret scanners can match).</summary>
    public static string NewToken() => "corral-agent-" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>Whether a name can be an agent's in a policy (as a group name: letters, digits, '.', '_', '-').</summary>
    public static bool IsValidName(string name) => Loading.Sections.PolicyName.IsValid(name);

    /// <summary>The token's SHA-256 as a policy's <c>token-sha256</c> holds it (lower-case hex).</summary>
    public static string HashOf(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    /// <summary>
    /// Reads a <c>Proxy-Authorization</c> value (<c>Bearer TOKEN</c>, or <c>Basic base64(AGENT:TOKEN)</c> whose user
    /// must be the agent the token belongs to) and checks <paramref name="client"/> against the agent's CIDRs.
    /// </summary>
    public AgentIdentity Identify(string? proxyAuthorization, IPAddress client)
    {
        if (proxyAuthorization is null) return new(AgentAuthentication.Missing, null, "no Proxy-Authorization header: this gateway needs each agent's token");
        if (!TryReadCredentials(proxyAuthorization.Trim(), out var user, out var token))
            return new(AgentAuthentication.Invalid, null, "Proxy-Authorization is neither 'Bearer TOKEN' nor 'Basic base64(AGENT:TOKEN)'");
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes(token), hash);
        CompiledAgent? found = null;
        foreach (var agent in _agents)
            foreach (var known in agent.Hashes)
                if (CryptographicOperations.FixedTimeEquals(hash, known)) found ??= agent;
        if (found is null || (user is not null && !string.Equals(user, found.Name, StringComparison.Ordinal)))
            return new(AgentAuthentication.Invalid, null, "the token in Proxy-Authorization is not one of this policy's agents'");
        if (!found.MayConnectFrom(client))
            return new(AgentAuthentication.OutsideCidrs, null, $"agent {found.Name}'s token is not accepted from {client}: outside the agent's CIDRs");
        return new(AgentAuthentication.Authenticated, found, $"authenticated as agent {found.Name}");
    }

    private static bool TryReadCredentials(string value, out string? user, out string token)
    {
        user = null;
        token = "";
        var space = value.IndexOf(' ');
        if (space <= 0) return false;
        var scheme = value[..space];
        var rest = value[(space + 1)..].Trim();
        if (rest.Length == 0 || rest.Length > 4096) return false;
        if (scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase))
        {
            token = rest;
            return !rest.Contains(' ');
        }
        if (!scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase)) return false;
        var bytes = new byte[rest.Length];
        if (!Convert.TryFromBase64String(rest, bytes, out var length)) return false;
        string decoded;
        try { decoded = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes, 0, length); }
        catch (DecoderFallbackException) { return false; }
        var colon = decoded.IndexOf(':');
        if (colon <= 0 || colon == decoded.Length - 1) return false;
        user = decoded[..colon];
        token = decoded[(colon + 1)..];
        return true;
    }
}

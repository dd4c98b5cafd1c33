using Corral.Interception.Http;
using Corral.Policy.Compilation;
using Corral.Policy.Model;

namespace Corral.Interception;

/// <summary>
/// The request stage that puts credentials in for the agent's placeholders, after the request's decision and before
/// anything is inspected or forwarded. A placeholder goes in only at its credential's place (one header, or one query
/// parameter), only into a decrypted request that an enforced permit lets through, and only to the web groups the
/// credential is bound to; a placeholder anywhere else in the head is an attempted exfiltration and refuses the
/// request. (The body, and encoded forms anywhere, are payload inspection's: the snapshot's inspector looks for every
/// placeholder.) The client's head is what the record and inspection read; only the head rebuilt for the upstream
/// carries a value.
/// </summary>
internal static class CredentialStage
{
    public static Step Place(RequestExchange x, RelayTarget target, IRequestGate gate)
    {
        var credentials = gate.Credentials;
        if (credentials.IsEmpty) return Step.GoOn;
        var mayCarry = target.Scheme == "https" && x.Verdict is { Action: RuleAction.Permit, Enforced: true };

        // The target: its path never, one query parameter's value when that is the credential's place.
        var path = x.Path!;
        if (credentials.FindIn(path) is not null)
        {
            var (placed, refused) = PlaceInQuery(path, credentials, c => Allowed(c, CredentialPlacementKind.Query, mayCarry, target, path), gate, target);
            if (refused is not null) return refused;
            x.ForwardPath = placed;
            // Every placeholder in the target is in its own parameter now (any other was refused): inspection reads the rest.
            x.ScannedPath = credentials.All.Aggregate(path, (p, c) => Without(p, c.Placeholder));
            x.Credential = credentials.FindIn(path)!.Name;
        }

        List<HttpHeader>? headers = null;
        var request = x.Head;
        for (var i = 0; i < request.Headers.Count; i++)
        {
            var header = request.Headers[i];
            var where = $"header {Refusal.Printable(header.Name)}";
            if (credentials.FindIn(header.Name) is { } inName) return Exfiltration(inName, where, target);
            if (credentials.FindIn(header.Value) is not { } credential) continue;
            if (!header.Name.Equals(credential.Placement.Name, StringComparison.OrdinalIgnoreCase) || !Allowed(credential, CredentialPlacementKind.Header, mayCarry, target, path))
                return Exfiltration(credential, where, target);
            var rest = Without(header.Value, credential.Placeholder);
            if (credentials.FindIn(rest) is { } other) return Exfiltration(other, where, target);
            if (Value(credential, gate, target, out var value) is { } unavailable) return unavailable;
            headers ??= [.. request.Headers];
            headers[i] = header with { Value = header.Value.Replace(credential.Placeholder, value, StringComparison.OrdinalIgnoreCase) };
            (x.PlacedHeaders ??= []).Add(i);
            x.Credential = credential.Name;
        }
        if (headers is not null) x.ForwardHead = request with { Headers = headers };
        return Step.GoOn;
    }

    private static bool Allowed(CompiledCredential credential, CredentialPlacementKind kind, bool mayCarry, RelayTarget target, string path) =>
        mayCarry && credential.Placement.Kind == kind && credential.IsBoundTo(target.Name, path);

    // The query is split on '&' as servers read it; a parameter is the credential's place only by its exact name, as written.
    private static (string? Placed, RequestRefused? Refused) PlaceInQuery(string path, CompiledCredentials credentials, Func<CompiledCredential, bool> allowed,
        IRequestGate gate, RelayTarget target)
    {
        var question = path.IndexOf('?');
        if (question < 0 || credentials.FindIn(path.AsSpan(0, question)) is not null)
            return (null, Exfiltration(credentials.FindIn(question < 0 ? path : path[..question])!, "the URL path", target));
        var parameters = path[(question + 1)..].Split('&');
        for (var i = 0; i < parameters.Length; i++)
        {
            var parameter = parameters[i];
            if (credentials.FindIn(parameter) is not { } credential) continue;
            var equals = parameter.IndexOf('=');
            var name = equals < 0 ? parameter : parameter[..equals];
            if (equals < 0 || name != credential.Placement.Name || credentials.FindIn(name) is not null || !allowed(credential))
                return (null, Exfiltration(credential, "the query", target));
            var value = parameter[(equals + 1)..];
            if (credentials.FindIn(Without(value, credential.Placeholder)) is { } other) return (null, Exfiltration(other, "the query", target));
            if (Value(credential, gate, target, out var secret) is { } unavailable) return (null, unavailable);
            parameters[i] = name + "=" + value.Replace(credential.Placeholder, Uri.EscapeDataString(secret), StringComparison.OrdinalIgnoreCase);
        }
        return (path[..(question + 1)] + string.Join('&', parameters), null);
    }

    private static string Without(string text, string placeholder) => text.Replace(placeholder, "", StringComparison.OrdinalIgnoreCase);

    private static RequestRefused? Value(CompiledCredential credential, IRequestGate gate, RelayTarget target, out string value)
    {
        if (gate.CredentialValue(credential, out var problem) is { } found)
        {
            value = found;
            return null;
        }
        value = "";
        return new RequestRefused(Refusal.ByCheck(GatewayCheck.CredentialUnavailable, target.Authority,
            $"credential {credential.Name} is not available to the gateway: {problem}", 502)) { Credential = credential.Name };
    }

    private static RequestRefused Exfiltration(CompiledCredential credential, string where, RelayTarget target) =>
        new(Refusal.CredentialExfiltration(credential, where, target.Authority)) { Credential = credential.Name };
}

using System.Net;
using Corral.Gateway.Resolution;
using Corral.Policy.Compilation;
using Corral.Policy.Inspection;
using Corral.Policy.Model;

namespace Corral.Gateway.Decision;

/// <summary>A flow's facts and the verdict on them; Refusal is set when the facts could not be gathered.</summary>
internal readonly record struct FlowDecision(Flow Flow, Verdict Verdict, string? Refusal)
{
    public bool LetsThrough => Refusal is null && Verdict.LetsThrough;

    /// <summary>The address to dial: the one the verdict chose.</summary>
    public IPAddress DialAddress => Flow.Destinations[Verdict.AddressIndex];
}

/// <summary>
/// Gathers the facts of a flow (the gateway's own resolution of the name, every address) and asks the compiled
/// policy. This is the only place the gateway obtains verdicts; it never reads a rule itself.
/// </summary>
internal sealed class FlowDecider(PolicySource policy, IResolver resolver, System.Diagnostics.Metrics.Histogram<double>? decisionSeconds = null)
{
    /// <summary>Asks the policy in force, timing only the policy's own work (not name resolution).</summary>
    private Verdict Decide(in Flow flow)
    {
        var start = System.Diagnostics.Stopwatch.GetTimestamp();
        var verdict = policy.Current.Decide(flow);
        decisionSeconds?.Record(System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds);
        return verdict;
    }

    public async ValueTask<FlowDecision> DecideAsync(IPAddress source, Destination destination, int port, string? path, bool? isTls, CancellationToken ct)
    {
        IReadOnlyList<IPAddress> addresses;
        if (destination.Address is { } literal)
        {
            addresses = [literal];
        }
        else
        {
            addresses = await resolver.ResolveAsync(destination.Host!, ct).ConfigureAwait(false);
            // Never hand Decide an empty list: to Decide that means "some public address" (explain's convention).
            if (addresses.Count == 0)
            {
                var unresolved = new Flow { Source = source, Host = destination.Host, Port = port, Path = path, IsTls = isTls };
                return new FlowDecision(unresolved, default, $"'{destination.Host}' did not resolve");
            }
        }
        var flow = new Flow { Source = source, Host = destination.Host, Destinations = addresses, Port = port, Path = path, IsTls = isTls };
        return new FlowDecision(flow, Decide(flow), null);
    }

    /// <summary>Decides one request inside a decrypted flow: the same facts, the request's path, and only the address dialled.</summary>
    public Verdict DecideRequest(in FlowDecision earlier, string path)
    {
        var flow = earlier.Flow with { Path = path, Destinations = [earlier.DialAddress] };
        return Decide(flow);
    }

    /// <summary>
    /// The payload patterns of the policy in force, compiled once per distinct set of patterns: a reload that leaves
    /// them as they were (a promotion, a feed update) keeps the regexes already built.
    /// </summary>
    public PayloadInspector CurrentInspector()
    {
        var settings = policy.Current.Document.Inspection;
        var cached = Volatile.Read(ref _inspector);
        if (cached is not null && ReferenceEquals(cached.Settings, settings)) return cached.Inspector;
        var key = KeyOf(settings);
        var next = cached is not null && cached.Key == key
            ? cached with { Settings = settings }
            : new CachedInspector(settings, key, new PayloadInspector(settings));
        Volatile.Write(ref _inspector, next);
        return next.Inspector;
    }

    private sealed record CachedInspector(InspectionSettings Settings, string Key, PayloadInspector Inspector);

    private CachedInspector? _inspector;

    private static string KeyOf(InspectionSettings settings) =>
        $"{settings.ScanAuthorizationHeader}\n{string.Join("\n", settings.BuiltIns)}\n{string.Join("\n", settings.Custom.Select(c => $"{c.Name}\0{c.Regex}"))}";

    /// <summary>Decides again with one fact corrected (e.g. the stream turned out not to be TLS); no new resolution.</summary>
    public FlowDecision Redecide(in FlowDecision earlier, bool? isTls)
    {
        var flow = earlier.Flow with { IsTls = isTls };
        return new FlowDecision(flow, Decide(flow), null);
    }
}

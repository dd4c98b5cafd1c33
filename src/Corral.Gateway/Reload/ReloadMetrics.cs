using System.Diagnostics.Metrics;

namespace Corral.Gateway.Reload;

/// <summary>Counts policies put in force after start and reloads refused, by source, on the gateway's meter.</summary>
public sealed class ReloadMetrics(Meter meter) : IPolicyChangeListener
{
    private readonly Counter<long> _reloads = meter.CreateCounter<long>("corral.gateway.policy.reloads", description: "Policies put in force after start, by source");
    private readonly Counter<long> _failures = meter.CreateCounter<long>("corral.gateway.policy.reload_failures", description: "Reloads refused because the new policy failed to load or compile, by source");

    public void Applied(ReloadStatus status, ReloadSource source, bool changed)
    {
        if (changed) _reloads.Add(1, new KeyValuePair<string, object?>("source", source.Label()));
    }

    public void Refused(ReloadStatus status, ReloadFailure failure) =>
        _failures.Add(1, new KeyValuePair<string, object?>("source", failure.Source.Label()));
}

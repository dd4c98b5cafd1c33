using System.Diagnostics;
using System.Net;
using Corral.Gateway.Resolution;

namespace Corral.Gateway.Observability;

/// <summary>
/// The gateway's resolver with a <c>corral.dns</c> span around each lookup while tracing is on (a child of the
/// flow's decision); with tracing off it is the resolver's own call, nothing added.
/// </summary>
internal sealed class TracedResolver(IResolver inner) : IResolver
{
    public ValueTask<IReadOnlyList<IPAddress>> ResolveAsync(string host, CancellationToken cancellationToken) =>
        FlowTracing.Enabled ? TracedAsync(host, cancellationToken) : inner.ResolveAsync(host, cancellationToken);

    private async ValueTask<IReadOnlyList<IPAddress>> TracedAsync(string host, CancellationToken cancellationToken)
    {
        using var span = FlowTracing.Source.StartActivity("corral.dns", ActivityKind.Client);
        span?.SetTag("dns.question.name", host);
        var answers = await inner.ResolveAsync(host, cancellationToken).ConfigureAwait(false);
        if (span is not null)
        {
            span.SetTag("dns.answers", answers.Select(a => a.ToString()).ToArray());
            if (answers.Count == 0) span.SetStatus(ActivityStatusCode.Error, $"'{host}' did not resolve");
        }
        return answers;
    }
}

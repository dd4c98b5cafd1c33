using Microsoft.Extensions.Hosting;

namespace Corral.Gateway.Reload;

/// <summary>
/// A <see cref="PolicyReloader"/> in the Generic Host: on start, watches the policy and its files (unless
/// <paramref name="watch"/> is false) and warms the reload path on a pool thread, off the start-up path; on stop,
/// stops watching (a reload in progress finishes first).
/// </summary>
public sealed class PolicyReloadService(PolicyReloader reloader, bool watch) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (watch) reloader.StartWatching();
        _ = Task.Run(() => reloader.WarmUp(), CancellationToken.None); // compiled fully before the first change needs it
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => reloader.StopWatchingAsync();
}

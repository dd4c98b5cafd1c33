using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Corral.Gateway.Hosting;

/// <summary>
/// A <see cref="GatewayServer"/> in the Generic Host: listens when the host starts. When it stops, the gateway drains
/// first (<see cref="StoppingAsync"/>, before any service's <c>StopAsync</c>: the admin server still answers
/// <c>/readyz</c> with "draining" meanwhile), up to its drain timeout, then cuts what is left.
/// </summary>
public sealed class GatewayService(GatewayServer server, ILogger logger) : IHostedLifecycleService
{
    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        server.Start();
        return Task.CompletedTask;
    }

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <remarks>The drain keeps its own timeout (<see cref="GatewayLimits.DrainTimeout"/>); give the host's shutdown timeout more.</remarks>
    public Task StoppingAsync(CancellationToken cancellationToken)
    {
        logger.ShuttingDown();
        return server.StopAsync();
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

using Corral.Gateway.Hosting;
using Corral.Gateway.Reload;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Corral.Admin;

/// <summary>
/// The <see cref="AdminServer"/> in the Generic Host, next to the gateway it serves: starts after the gateway and
/// stops after the gateway has drained, so <c>/readyz</c> says "draining" rather than refusing connections meanwhile.
/// </summary>
public sealed class AdminService(GatewayServer gateway, PolicyReloader reloader, AdminOptions options, ILoggerFactory loggerFactory) : IHostedService
{
    private AdminServer? _server;

    public async Task StartAsync(CancellationToken cancellationToken) =>
        _server = await AdminServer.StartAsync(gateway, reloader, options, loggerFactory, cancellationToken).ConfigureAwait(false);

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _server, null) is { } server) await server.DisposeAsync().ConfigureAwait(false);
    }
}

using System.Net;
using Corral.Admin.Api;
using Corral.Gateway.Hosting;
using Corral.Gateway.Reload;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;

namespace Corral.Admin;

/// <summary>
/// The admin HTTP server on Kestrel: <c>/healthz</c>, <c>/readyz</c>, <c>/metrics</c> (Prometheus), the policy and
/// flows API and the dashboard. Start it in-process next to a running <see cref="GatewayServer"/>.
/// </summary>
public sealed class AdminServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private AdminServer(WebApplication app, IPEndPoint endPoint)
    {
        _app = app;
        EndPoint = endPoint;
    }

    /// <summary>The bound endpoint (with the real port when 0 was asked for).</summary>
    public IPEndPoint EndPoint { get; }

    /// <summary>http://ADDR:PORT/ of the admin server.</summary>
    public Uri BaseAddress => new($"http://{EndPoint}/");

    /// <summary>
    /// Starts the admin server for <paramref name="gateway"/>, changing its policy through <paramref name="reloader"/>.
    /// Refuses a non-loopback listener without a token: the API must never be open on a network.
    /// </summary>
    public static async Task<AdminServer> StartAsync(GatewayServer gateway, PolicyReloader reloader, AdminOptions options, ILoggerFactory? loggerFactory = null, CancellationToken ct = default)
    {
        if (!IPAddress.IsLoopback(options.Listen.Address) && options.Token is null)
            throw new ArgumentException($"admin listener {options.Listen} is not loopback: configure an admin token (--admin-token-file or {AdminToken.EnvironmentVariable}) first");
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory, Args = [] });
        builder.Logging.ClearProviders();
        if (loggerFactory is not null)
        {
            // ASP.NET Core's own lines go to the gateway's log, but only warnings and worse (no per-request chatter).
            builder.Logging.AddProvider(new ForwardingLoggerProvider(loggerFactory));
            builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        }
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = options.MaxRequestBodyBytes;
            k.Listen(options.Listen);
        });
        // The gateway's own meter and the runtime's (garbage collections and their pauses, allocation, thread pool,
        // exceptions: what explains a latency spike), exported by OpenTelemetry's Prometheus exporter (no cached
        // scrapes: tests and the dashboard want what is true now).
        builder.Services.AddOpenTelemetry().WithMetrics(m => m
            .AddMeter(gateway.Meter.Name)
            .AddMeter("System.Runtime")
            .AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0));
        var app = builder.Build();
        var access = new AdminAccess(options);
        var logger = (loggerFactory ?? Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance).CreateLogger("Corral.Admin");
        app.Use(async (context, next) =>
        {
            var headers = context.Response.Headers;
            headers.XContentTypeOptions = "nosniff";
            headers.CacheControl = "no-store";
            headers["Referrer-Policy"] = "no-referrer";
            headers["X-Frame-Options"] = "DENY";
            headers.ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
            if (access.Refusal(context) is { } refused)
            {
                await refused.ExecuteAsync(context).ConfigureAwait(false);
                return;
            }
            await next(context).ConfigureAwait(false);
        });
        app.MapGet("/healthz", () => Results.Text("ok\n"));
        app.MapGet("/readyz", () => Readiness(gateway) is { } problem ? Results.Text(problem + "\n", statusCode: 503) : Results.Text("ready\n"));
        app.MapGet("/api/status", () => Results.Json(Status(gateway)));
        app.MapPrometheusScrapingEndpoint("/metrics");
        PolicyApi.Map(app, reloader, options.Token, logger);
        FlowsApi.Map(app, gateway.RecentFlows, options.MaxFlows);
        McpApi.Map(app, gateway.ToolPins, options.Token, logger);
        ImpactApi.Map(app, gateway.RecentFlows, reloader);
        DashboardFiles.Map(app);
        await app.StartAsync(ct).ConfigureAwait(false);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var uri = new Uri(address);
        var endPoint = new IPEndPoint(options.Listen.Address, uri.Port);
        gateway.AddOwnEndPoint(endPoint); // a flow to the admin API is a proxy loop
        logger.Listening(endPoint, options.Token is null ? "disabled: no token" : "need the bearer token",
            IPAddress.IsLoopback(options.Listen.Address) ? "open on loopback" : "need the bearer token");
        return new AdminServer(app, endPoint);
    }

    /// <summary>Why the gateway should not get traffic now, or null when it should.</summary>
    private static string? Readiness(GatewayServer gateway)
    {
        if (gateway.IsDraining) return $"not ready: draining {gateway.ActiveConnections} connection(s) before stopping";
        if (!gateway.IsAccepting) return "not ready: the gateway is not accepting connections";
        if (gateway.FlowLogStatus.Problem is { } problem) return $"degraded: the flow log cannot record: {problem}";
        return null;
    }

    private static object Status(GatewayServer gateway)
    {
        var flowLog = gateway.FlowLogStatus;
        var problem = Readiness(gateway);
        return new
        {
            ready = problem is null,
            reason = problem,
            accepting = gateway.IsAccepting,
            draining = gateway.IsDraining,
            connections = new { active = gateway.ActiveConnections, limit = gateway.MaxConnections, refused = gateway.RefusedConnections },
            flowLog = new { recording = flowLog.Recording, problem = flowLog.Problem, since = flowLog.Since, dropped = flowLog.Dropped, written = flowLog.Written },
        };
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}

/// <summary>Hands ASP.NET Core's loggers to the caller's logger factory.</summary>
internal sealed class ForwardingLoggerProvider(ILoggerFactory factory) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => factory.CreateLogger(categoryName);
    public void Dispose() { }
}

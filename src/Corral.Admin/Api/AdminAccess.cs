using System.Net;
using Microsoft.AspNetCore.Http;

namespace Corral.Admin.Api;

/// <summary>
/// Who may reach the admin server, checked before any endpoint runs:
/// <list type="bullet">
/// <item>The <c>Host</c> header must name this server: its own address (any IP literal when it listens on a wildcard
/// address, since an address cannot be rebound), <c>localhost</c> when it listens on loopback, or a name the operator
/// listed (<see cref="AdminOptions.AllowedHosts"/>). A web page whose name an attacker rebinds to the admin address
/// sends its own name, and is refused (421).</item>
/// <item>When the listener is not loopback, reads need the bearer token as changes do: <c>/api/*</c> and
/// <c>/metrics</c> (policy, recent flows, rule names). Health probes and the dashboard's static files stay open.</item>
/// </list>
/// </summary>
internal sealed class AdminAccess(AdminOptions options)
{
    private readonly HashSet<string> _names = new(options.AllowedHosts.Select(n => n.TrimEnd('.')), StringComparer.OrdinalIgnoreCase);
    private readonly bool _wildcard = options.Listen.Address.Equals(IPAddress.Any) || options.Listen.Address.Equals(IPAddress.IPv6Any);
    private readonly bool _loopback = IPAddress.IsLoopback(options.Listen.Address);

    /// <summary>The refusal for this request, or null when it may go on.</summary>
    public IResult? Refusal(HttpContext context)
    {
        var host = context.Request.Host.Host;
        if (!AllowsHost(host))
            return Problem.Of(StatusCodes.Status421MisdirectedRequest,
                $"Host '{host}' is not a name of this admin server (a guard against DNS rebinding); the operator can allow a name with --admin-host");
        if (!_loopback && NeedsTokenToRead(context.Request.Path)) return Auth.Refusal(context, options.Token);
        return null;
    }

    private bool AllowsHost(string host)
    {
        if (host.Length == 0) return false;
        var literal = host.StartsWith('[') && host.EndsWith(']') ? host[1..^1] : host;
        if (IPAddress.TryParse(literal, out var address))
            return _wildcard || address.Equals(options.Listen.Address);
        var name = host.TrimEnd('.');
        return (_loopback && name.Equals("localhost", StringComparison.OrdinalIgnoreCase)) || _names.Contains(name);
    }

    private static bool NeedsTokenToRead(PathString path) =>
        path.StartsWithSegments("/api") || path.StartsWithSegments("/metrics");
}

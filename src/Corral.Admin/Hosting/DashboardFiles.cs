using System.Reflection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Corral.Admin;

/// <summary>Serves the dashboard (plain HTML, CSS and JS embedded in this assembly: no build step, nothing downloaded).</summary>
internal static class DashboardFiles
{
    private static readonly (string Route, string Resource, string ContentType)[] Files =
    [
        ("/", "index.html", "text/html; charset=utf-8"),
        ("/dashboard.js", "dashboard.js", "text/javascript; charset=utf-8"),
        ("/insights.js", "insights.js", "text/javascript; charset=utf-8"),
        ("/dashboard.css", "dashboard.css", "text/css; charset=utf-8"),
    ];

    public static void Map(WebApplication app)
    {
        var assembly = typeof(DashboardFiles).Assembly;
        foreach (var (route, resource, contentType) in Files)
        {
            var bytes = Read(assembly, resource);
            app.MapGet(route, () => Results.Bytes(bytes, contentType));
        }
    }

    private static byte[] Read(Assembly assembly, string name)
    {
        using var stream = assembly.GetManifestResourceStream($"Corral.Admin.Dashboard.{name}")
            ?? throw new InvalidOperationException($"dashboard file {name} is not embedded");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}

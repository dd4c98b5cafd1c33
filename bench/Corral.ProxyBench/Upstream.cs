using System.Net;
using Corral.Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace Corral.ProxyBench;

/// <summary>
/// The far end every target reaches: Kestrel on 127.0.0.1 with an HTTPS listener (leaves for the bench names from its
/// own CA, whose certificate it writes out for the proxies to trust) and a plain HTTP listener.
/// GET / answers "ok"; GET /bytes/N streams N bytes.
/// </summary>
static class Upstream
{
    public const string CaCommonName = "Corral Bench Upstream CA";

    public static async Task<int> RunAsync(BenchArgs a)
    {
        var names = a.Text("--names", "tool.bench.example,splice.bench.example,plain.bench.example").Split(',');
        using var ca = CertificateAuthority.Create(new CaOptions { CommonName = CaCommonName });
        var minter = new LeafMinter(ca);
        var certs = names.ToDictionary(n => n, n => minter.Mint(n), StringComparer.OrdinalIgnoreCase);
        await File.WriteAllTextAsync(a.Text("--write-ca", "upstream-ca.crt"), ca.Certificate.ExportCertificatePem() + "\n");

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxConcurrentConnections = null;
            k.Limits.MaxConcurrentUpgradedConnections = null;
            k.Limits.KeepAliveTimeout = TimeSpan.FromMinutes(10); // idle tunnels stay open while memory is read
            k.Limits.MinResponseDataRate = null;
            k.AddServerHeader = false;
            k.Listen(IPAddress.Loopback, a.Int("--tls-port", 0), l =>
            {
                l.Protocols = HttpProtocols.Http1;
                l.UseHttps(h =>
                {
                    h.ServerCertificateSelector = (_, sni) => certs.GetValueOrDefault(sni ?? names[0]) ?? certs[names[0]];
                    h.HandshakeTimeout = TimeSpan.FromMinutes(2);
                });
            });
            k.Listen(IPAddress.Loopback, a.Int("--http-port", 0), l => l.Protocols = HttpProtocols.Http1);
        });
        var app = builder.Build();
        var ok = "ok"u8.ToArray();
        app.MapGet("/", (HttpContext c) =>
        {
            c.Response.ContentType = "text/plain";
            c.Response.ContentLength = ok.Length;
            return c.Response.Body.WriteAsync(ok).AsTask();
        });
        var chunk = new byte[64 * 1024];
        app.MapGet("/bytes/{n:long}", async (HttpContext c, long n) =>
        {
            c.Response.ContentType = "application/octet-stream";
            c.Response.ContentLength = n;
            for (var left = n; left > 0; left -= chunk.Length)
                await c.Response.Body.WriteAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, left)), c.RequestAborted);
        });
        await app.StartAsync();
        var ports = app.Urls.Select(u => new Uri(u)).ToList();
        var tls = ports.First(u => u.Scheme == "https").Port;
        var http = ports.First(u => u.Scheme == "http").Port;
        // The ready file is written last and renamed into place, so a reader never sees half of it.
        var ready = a.Text("--ready", "upstream.ready");
        await File.WriteAllTextAsync(ready + ".tmp", $"{tls} {http}\n");
        File.Move(ready + ".tmp", ready, overwrite: true);
        Console.WriteLine($"upstream: https 127.0.0.1:{tls}, http 127.0.0.1:{http}, names {string.Join(",", names)}");

        var stop = new TaskCompletionSource();
        using var term = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, ctx => { ctx.Cancel = true; stop.TrySetResult(); });
        Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.TrySetResult(); };
        await stop.Task;
        await app.StopAsync(new CancellationTokenSource(TimeSpan.FromSeconds(3)).Token);
        foreach (var c in certs.Values) c.Dispose();
        return 0;
    }
}

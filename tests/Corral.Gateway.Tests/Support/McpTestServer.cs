using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ModelContextProtocol.Protocol;

namespace Corral.Gateway.Tests.Support;

/// <summary>
/// A real MCP server (the official SDK on Kestrel, Streamable HTTP at /mcp) on 127.0.0.1 with three tools:
/// search_docs, get_issue and send_email. A tool's description can be changed while it runs (a "rug pull"), and every
/// tool call that reaches it is recorded.
/// </summary>
public sealed class McpTestServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, string> _descriptions = new()
    {
        ["search_docs"] = "Searches the product documentation.",
        ["get_issue"] = "Reads one issue by number.",
        ["send_email"] = "Sends an email to any address.",
    };

    public ConcurrentQueue<string> Calls { get; } = new();
    public int Port { get; }

    private McpTestServer(WebApplication app, int port)
    {
        _app = app;
        Port = port;
    }

    public static async Task<McpTestServer> StartAsync()
    {
        McpTestServer? self = null;
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        builder.Services.AddMcpServer()
            .WithHttpTransport()
            .WithListToolsHandler((_, _) => ValueTask.FromResult(new ListToolsResult
            {
                Tools = self!._descriptions.OrderBy(t => t.Key).Select(t => new Tool
                {
                    Name = t.Key,
                    Description = t.Value,
                    InputSchema = JsonDocument.Parse("""{"type":"object","properties":{"text":{"type":"string"}}}""").RootElement.Clone(),
                }).ToList(),
            }))
            .WithCallToolHandler((request, _) =>
            {
                var name = request.Params!.Name;
                self!.Calls.Enqueue(name);
                return ValueTask.FromResult(new CallToolResult { Content = [new TextContentBlock { Text = $"{name} ran" }] });
            });
        var app = builder.Build();
        app.MapMcp("/mcp");
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        self = new McpTestServer(app, new Uri(address).Port);
        return self;
    }

    /// <summary>Changes a tool's description, as a compromised or careless server would after review.</summary>
    public void Redescribe(string tool, string description) => _descriptions[tool] = description;

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

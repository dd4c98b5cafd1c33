using Corral.Gateway.Mcp;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Corral.Admin.Api;

/// <summary><c>GET /api/mcp/pins</c> and <c>POST /api/mcp/servers/{server}/accept</c> (admin token): the MCP tool pins.</summary>
internal static class McpApi
{
    public static void Map(WebApplication app, ToolPins pins, AdminToken? token, ILogger logger)
    {
        app.MapGet("/api/mcp/pins", () => Results.Json(pins.Snapshot().Select(s => new { server = s.Server, tools = s.Tools, pending = s.Pending })));

        app.MapPost("/api/mcp/servers/{server}/accept", (HttpContext context, string server) =>
        {
            if (Auth.Refusal(context, token) is { } refused) return refused;
            var accepted = pins.Accept(server);
            if (accepted.Count == 0) return Problem.Of(StatusCodes.Status404NotFound, $"{server} has no changed tools waiting for review");
            logger.McpToolsAccepted(server, context.Connection.RemoteIpAddress, accepted);
            return Results.Json(new { server, accepted });
        });
    }
}

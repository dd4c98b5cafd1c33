using Microsoft.AspNetCore.Http;

namespace Corral.Admin.Api;

/// <summary>Checks the bearer token of a mutating call; returns the refusal, or null when the caller may proceed.</summary>
internal static class Auth
{
    public static IResult? Refusal(HttpContext context, AdminToken? token)
    {
        if (token is null)
            return Problem.Of(StatusCodes.Status403Forbidden, "no admin token is configured, so changes through the API are disabled (start the gateway with --admin-token-file or CORRAL_ADMIN_TOKEN)");
        var header = context.Request.Headers.Authorization.ToString();
        const string Scheme = "Bearer ";
        if (!header.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase) || !token.Matches(header.AsSpan(Scheme.Length).Trim()))
        {
            context.Response.Headers.WWWAuthenticate = "Bearer realm=\"corral-admin\"";
            return Problem.Of(StatusCodes.Status401Unauthorized, header.Length == 0 ? "missing bearer token" : "wrong bearer token");
        }
        return null;
    }
}

/// <summary>One error shape for every refusal: <c>{"status", "error", "diagnostics"?}</c>.</summary>
internal static class Problem
{
    public static IResult Of(int status, string error, object? diagnostics = null) =>
        Results.Json(diagnostics is null ? new { status, error } : new { status, error, diagnostics }, statusCode: status);
}

using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using Corral.Admin;
using Corral.Gateway.Hosting;
using Corral.Gateway.Reload;
using Corral.Policy.Compilation;
using Corral.Policy.Model;
using Microsoft.Extensions.Logging.Abstractions;

namespace Corral.Lab;

/// <summary>
/// Scenario 10's promotion from watch to enforce through the gateway's real admin API, as an operator would:
/// <c>POST /api/rules/{name}/mode</c> with a bearer token on a loopback admin server started next to the lab's gateway;
/// the API writes the change back to the policy file.
/// </summary>
internal sealed class AdminApiPromoter : IAsyncDisposable
{
    private readonly PolicyReloader _reloader;
    private readonly AdminServer _admin;
    private readonly HttpClient _http;

    private AdminApiPromoter(PolicyReloader reloader, AdminServer admin, string token)
    {
        _reloader = reloader;
        _admin = admin;
        _http = new HttpClient { BaseAddress = admin.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
    }

    /// <summary>How a promotion is carried out, for the report's notes.</summary>
    public string Description => $"watch -> enforce promotion through the admin API (POST {_admin.BaseAddress}api/rules/NAME/mode, bearer token), written back to the policy file, no restart";

    /// <summary>Starts a loopback admin server (free port, a fresh random token) for <paramref name="gateway"/>.</summary>
    public static async Task<AdminApiPromoter> StartAsync(GatewayServer gateway, string policyPath, CompileOptions options, CancellationToken ct)
    {
        var token = Convert.ToHexString(RandomNumberGenerator.GetBytes(32));
        var reloader = new PolicyReloader(gateway, policyPath, options, NullLogger.Instance);
        try
        {
            var admin = await AdminServer.StartAsync(gateway, reloader,
                new AdminOptions { Listen = new IPEndPoint(IPAddress.Loopback, 0), Token = AdminToken.FromText(token) }, ct: ct);
            return new AdminApiPromoter(reloader, admin, token);
        }
        catch
        {
            await reloader.DisposeAsync();
            throw;
        }
    }

    public async Task SetModeAsync(string rule, RuleMode mode, CancellationToken ct)
    {
        var word = mode == RuleMode.Enforce ? "enforce" : "watch";
        using var response = await _http.PostAsync($"api/rules/{Uri.EscapeDataString(rule)}/mode",
            new StringContent($"{{\"mode\":\"{word}\"}}", System.Text.Encoding.UTF8, "application/json"), ct);
        if (!response.IsSuccessStatusCode)
            throw new InvalidOperationException($"admin API refused the promotion: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(ct)}");
        // The code stays the source of truth: a promotion the API could not write back to the file is a failure here.
        using var answer = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync(ct));
        if (answer.RootElement.TryGetProperty("drift", out var drift) && drift.ValueKind == System.Text.Json.JsonValueKind.String)
            throw new InvalidOperationException($"the promotion was not written back to the policy file: {drift.GetString()}");
    }

    /// <summary>
    /// <c>GET /api/rules/{name}/impact</c> over every flow the gateway remembers: how many, and per destination host the
    /// flows that enforcing the rule would block (the replay computation).
    /// </summary>
    public async Task<(long Records, IReadOnlyDictionary<string, long> WouldBlock)> ImpactAsync(string rule, CancellationToken ct)
    {
        using var answer = System.Text.Json.JsonDocument.Parse(await _http.GetStringAsync($"api/rules/{Uri.EscapeDataString(rule)}/impact?top=100", ct));
        var replay = answer.RootElement.GetProperty("replay");
        var blocked = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var change in replay.GetProperty("changes").EnumerateArray())
        {
            if (change.GetProperty("enforcement").ValueKind != System.Text.Json.JsonValueKind.String || change.GetProperty("enforcement").GetString() != "permit-to-deny") continue;
            foreach (var d in change.GetProperty("top_destinations").EnumerateArray())
            {
                var host = d.GetProperty("host").GetString() ?? d.GetProperty("address").GetString() ?? "?";
                blocked[host] = blocked.GetValueOrDefault(host) + d.GetProperty("count").GetInt64();
            }
        }
        return (replay.GetProperty("records").GetInt64(), blocked);
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await _admin.DisposeAsync();
        await _reloader.DisposeAsync();
    }
}

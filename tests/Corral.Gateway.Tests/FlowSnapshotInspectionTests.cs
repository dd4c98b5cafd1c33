using System.Text;
using Corral.Policy;
using Corral.Testing;

namespace Corral.Gateway.Tests;

/// <summary>
/// A flow is decided and inspected under one policy snapshot: a reload between a flow's decision and its requests
/// changes neither its verdicts nor the patterns its payloads are searched for.
/// </summary>
public sealed class FlowSnapshotInspectionTests
{
    private static string Policy(string pattern) => $$"""
        version: 1
        name: snapshot-inspection
        defaultAction: deny
        smartGroups:
          agents: { cidrs: [127.0.0.0/8] }
        webGroups:
          web: { domains: [www.example.test] }
        inspection:
          patterns: [private-key]
          custom:
            - { name: ticket, regex: "{{pattern}}" }
        rules:
          - { name: allow-web, priority: 1, source: [agents], webGroups: [web], action: permit, ports: [80] }
        """;

    [Theory]
    [InlineData("TICKET-123456", 403)] // the flow's snapshot knows this pattern: refused, though the policy now in force does not
    [InlineData("CASE-1234", 200)]     // the policy now in force knows this one, the flow's snapshot does not: it passes
    public async Task A_request_is_inspected_under_the_snapshot_its_flow_was_decided_on(string payload, int status)
    {
        await using var upstream = LoopbackUpstream.Start(80);
        await using var gw = GatewayHarness.Custom(Policy("TICKET-[0-9]{6}"), $"{upstream.EndPoint.Address} www.example.test\n");
        using var tcp = await gw.RawAsync();
        var stream = tcp.GetStream();
        await stream.WriteAsync("CONNECT www.example.test:80 HTTP/1.1\r\nHost: www.example.test:80\r\n\r\n"u8.ToArray());
        Assert.Equal(200, (await RawHttp.ReadResponseAsync(stream)).Status); // decided, on the first policy

        var reloaded = PolicyChecker.CheckText(gw.PolicyPath, Policy("CASE-[0-9]{4}"), gw.Folder, options: GatewayHarness.StandIns);
        Assert.True(reloaded.Succeeded, string.Join("\n", reloaded.Diagnostics));
        gw.Server.Policy.Swap(reloaded.Compiled!);

        var body = $"note={payload}";
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"POST /notes HTTP/1.1\r\nHost: www.example.test\r\nContent-Length: {body.Length}\r\n\r\n{body}"));
        var response = await RawHttp.ReadResponseAsync(stream);
        Assert.Equal(status, response.Status);
        lock (upstream.Requests) Assert.Equal(status == 200 ? 1 : 0, upstream.Requests.Count);
        if (status == 403) Assert.Contains("ticket", response.Body);
    }
}

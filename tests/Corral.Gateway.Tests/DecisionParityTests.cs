using System.Buffers;
using System.Net;
using System.Text;
using System.Text.Json;
using Corral.Cli;
using Corral.Policy.Compilation;
using Corral.Testing;

namespace Corral.Gateway.Tests;

/// <summary>
/// The gateway carries out exactly what the decision function says: for a table of flows, the gateway's outcome
/// (403 or tunnel) and its flow-log verdict equal <see cref="CompiledPolicy.Decide"/> on the same facts, and, where
/// the lab-only loopback stand-ins play no part, what <c>corral explain --json</c> prints.
/// </summary>
public sealed class DecisionParityTests
{
    public static TheoryData<string, int> Flows => new()
    {
        { "mcp.contoso.com", 443 },            // allow-tool-calls
        { "api.github.com", 443 },             // allow-tool-calls, URL filters pending
        { "login.microsoftonline.com", 443 },  // allow-aca-fqdn
        { "eu.login.microsoftonline.com", 443 },
        { "x.data.mcr.microsoft.com", 443 },
        { "data.mcr.microsoft.com", 443 },     // the wildcard does not cover its apex
        { "mcp.contoso.com", 8443 },           // right name, wrong port
        { "exfil.attacker.test", 443 },        // default-deny-internet
        { "db.spoke.test", 443 },              // no permit can reach it: denied by name, never resolved
        { "rebind.login.microsoft.com", 443 }, // allowed name, private address
        { "10.30.0.7", 443 },
        { "169.254.169.254", 443 },
        { "168.63.129.16", 443 },
        { "0x7f000001", 443 },                 // loopback (a stand-in here) in hex
    };

    [Theory]
    [MemberData(nameof(Flows))]
    public async Task Gateway_outcome_equals_the_decision_function_and_explain(string target, int port)
    {
        await using var upstream = LoopbackUpstream.Start(443, "stand-in.test");
        var standIn = upstream.EndPoint.Address;
        var hosts = new Dictionary<string, string[]>
        {
            ["mcp.contoso.com"] = [standIn.ToString()], ["api.github.com"] = [standIn.ToString()],
            ["login.microsoftonline.com"] = [standIn.ToString()], ["eu.login.microsoftonline.com"] = [standIn.ToString()],
            ["x.data.mcr.microsoft.com"] = [standIn.ToString()], ["data.mcr.microsoft.com"] = [standIn.ToString()],
            ["exfil.attacker.test"] = [standIn.ToString()], ["db.spoke.test"] = ["10.30.4.4"],
            ["rebind.login.microsoft.com"] = ["192.168.7.7", "10.1.1.1"],
        };
        await using var gw = GatewayHarness.Foundry(string.Join("\n", hosts.SelectMany(h => h.Value.Select(a => $"{a} {h.Key}"))) + "\n");

        // What the decision function says about the same facts the gateway gathers.
        Assert.True(Destination.TryParse(target, out var destination, out _));
        var resolved = destination.Address is { } literal ? [literal] : hosts[target].Select(IPAddress.Parse).ToArray();
        var flow = new Flow { Source = IPAddress.Loopback, Host = destination.Host, Destinations = resolved, Port = port, IsTls = port == 443 };
        // A name is decided before it is resolved; only when an address could let it through does the gateway resolve it.
        var beforeResolving = destination.Host is null ? (NameDecision?)null : gw.Policy.DecideBeforeResolving(flow with { Destinations = [] });
        var resolvedByGateway = beforeResolving is not { NeedsAddresses: false };
        var expected = resolvedByGateway ? gw.Policy.Decide(flow) : beforeResolving!.Value.Verdict;

        using (var tcp = await gw.RawAsync())
        {
            var stream = tcp.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"CONNECT {target}:{port} HTTP/1.1\r\n\r\n"));
            var (status, head, _) = await RawHttp.ReadResponseAsync(stream);
            Assert.Equal(expected.LetsThrough ? 200 : 403, status);
            if (!expected.LetsThrough) Assert.Contains($"X-Corral-Rule: {expected.Rule?.Name ?? "(default-action)"}\r\n", head);
        }

        var (decision, _) = await gw.FlowAsync(r => r.GetProperty("url").GetString() == $"{target}:{port}");
        var want = VerdictFields(expected with { Decrypt = false });
        foreach (var field in new[] { "action", "rule", "priority", "enforced", "decrypt", "reason" })
            Assert.Equal(want.GetProperty(field).ToString(), decision.GetProperty(field).ToString());
        Assert.Equal(resolvedByGateway ? $"{resolved[expected.AddressIndex]}:{port}" : null, decision.GetProperty("dst").GetString());

        // corral explain compiles without the stand-in setting, so compare with it only where no loopback is involved;
        // for a name decided before resolving, explain is given no addresses either (it then assumes a public one).
        if (!resolvedByGateway || !resolved.Any(IPAddress.IsLoopback))
        {
            var args = new List<string> { "explain", gw.PolicyPath, "--src", "127.0.0.1", "--dst", target, "--port", port.ToString(), "--json" };
            if (destination.Host is not null && resolvedByGateway) foreach (var a in resolved) args.AddRange(["--resolved", a.ToString()]);
            var output = new StringWriter();
            Assert.Equal(0, CorralCommand.Run([.. args], output, output));
            using var explained = JsonDocument.Parse(output.ToString());
            foreach (var field in new[] { "action", "rule", "priority", "enforced", "reason" })
                Assert.Equal(explained.RootElement.GetProperty(field).ToString(), decision.GetProperty(field).ToString());
        }
    }

    private static JsonElement VerdictFields(Verdict verdict)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer)) VerdictJson.Write(w, verdict);
        return JsonDocument.Parse(buffer.WrittenMemory).RootElement.Clone();
    }
}

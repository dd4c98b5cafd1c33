using System.Net.Sockets;
using Corral.Cli.Commands;
using Corral.Gateway.Tests.Support;
using Corral.Testing;

namespace Corral.Gateway.Tests;

/// <summary>
/// <c>corral gateway</c> as a process, configured only by the standard OTEL_* variables, exporting its traces to an
/// OTLP receiver the test hosts; and the rule that decides whether it exports at all.
/// </summary>
public sealed class OtlpExportTests
{
    /// <summary>Every OTEL variable the rule reads, unset, so the test process's own environment cannot leak in.</summary>
    private static Dictionary<string, string?> Otel(params (string Name, string Value)[] set)
    {
        var env = new Dictionary<string, string?>
        {
            ["OTEL_TRACES_EXPORTER"] = null, ["OTEL_EXPORTER_OTLP_ENDPOINT"] = null, ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = null,
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = null, ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"] = null, ["OTEL_SDK_DISABLED"] = null, ["OTEL_SERVICE_NAME"] = null,
            ["OTEL_RESOURCE_ATTRIBUTES"] = null,
        };
        foreach (var (name, value) in set) env[name] = value;
        return env;
    }

    /// <summary>Runs a gateway process with these variables, sends one CONNECT the policy denies, stops it (SIGTERM: the last spans are flushed) and returns the denied flow's id and what the gateway printed.</summary>
    private static async Task<(string FlowId, string Rule, string Output)> DenyOneFlowAsync(Dictionary<string, string?> environment)
    {
        var port = ChildProcess.FreePort();
        var folder = GatewayProcess.NewFolder("");
        try
        {
            string output;
            await using (var gateway = GatewayProcess.Start(folder, ["--listen", $"127.0.0.1:{port}", "--flow-log", "flows.jsonl"], ownsFolder: false, environment: environment))
            {
                await gateway.WaitForPortAsync(port);
                using (var tcp = new TcpClient())
                {
                    await tcp.ConnectAsync(System.Net.IPAddress.Loopback, port);
                    await tcp.GetStream().WriteAsync("CONNECT exfil.attacker.test:443 HTTP/1.1\r\n\r\n"u8.ToArray());
                    Assert.Equal(403, (await RawHttp.ReadResponseAsync(tcp.GetStream())).Status);
                }
                await gateway.SignalAsync("TERM");
                Assert.Equal(0, await gateway.WaitForExitAsync());
                output = gateway.Output;
            }
            var decision = File.ReadLines(Path.Combine(folder, "flows.jsonl")).Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement)
                .Single(r => r.TryGetProperty("event", out var e) && e.GetString() == "decision" && r.GetProperty("host").GetString() == "exfil.attacker.test");
            return (decision.GetProperty("flow").GetString()!, decision.GetProperty("rule").GetString()!, output);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Theory]
    [InlineData("http/protobuf")]
    [InlineData("grpc")]
    public async Task A_refused_flow_reaches_an_otlp_receiver_with_the_flow_logs_id_when_the_otel_variables_say_so(string protocol)
    {
        await using var receiver = await OtlpReceiver.StartAsync(grpc: protocol == "grpc");
        var (id, rule, output) = await DenyOneFlowAsync(Otel(("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.Endpoint.ToString()), ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)));

        Assert.Contains($"Traces exported over OTLP ({protocol})", output);
        var requests = receiver.Requests;
        Assert.NotEmpty(requests);
        Assert.All(requests, r => Assert.Equal(protocol == "grpc" ? "application/grpc" : "application/x-protobuf", r.ContentType));
        var spans = receiver.Spans;
        var flow = Assert.Single(spans, s => s.Name == "corral.flow" && s.Attributes.GetValueOrDefault("corral.flow.id") == id);
        Assert.Equal(2, flow.StatusCode); // STATUS_CODE_ERROR
        Assert.Equal(2, flow.Kind); // SPAN_KIND_SERVER
        Assert.Equal("", flow.ParentSpanId);
        Assert.Equal(rule, flow.Attributes["corral.rule"]);
        Assert.Equal("deny", flow.Attributes["corral.action"]);
        Assert.Equal("true", flow.Attributes["corral.enforced"]);
        Assert.Equal("exfil.attacker.test", flow.Attributes["server.address"]);
        Assert.Equal("443", flow.Attributes["server.port"]);
        Assert.Equal("127.0.0.1", flow.Attributes["client.address"]);
        Assert.Equal("corral-gateway", flow.Resource["service.name"]);
        var decide = Assert.Single(spans, s => s.Name == "corral.decide" && s.TraceId == flow.TraceId);
        Assert.Equal(flow.SpanId, decide.ParentSpanId);
    }

    [Fact]
    public async Task With_OTEL_TRACES_EXPORTER_none_the_gateway_exports_nothing_even_with_an_endpoint_set()
    {
        await using var receiver = await OtlpReceiver.StartAsync(grpc: false);
        var (_, _, output) = await DenyOneFlowAsync(Otel(("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.Endpoint.ToString()), ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_TRACES_EXPORTER", "none")));
        Assert.DoesNotContain("Traces exported", output);
        Assert.Empty(receiver.Requests);
    }

    [Theory]
    // Off unless asked for.
    [InlineData("", null, null)]
    [InlineData("OTEL_EXPORTER_OTLP_PROTOCOL=grpc", null, null)]
    [InlineData("OTEL_TRACES_EXPORTER=none;OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318", null, null)]
    [InlineData("OTEL_SDK_DISABLED=true;OTEL_TRACES_EXPORTER=otlp", null, null)]
    // On: an endpoint, or the exporter named; http/protobuf unless a protocol is given.
    [InlineData("OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318", "http/protobuf http://collector:4318/v1/traces", null)]
    [InlineData("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=https://collector/custom/path", "http/protobuf https://collector/custom/path", null)]
    [InlineData("OTEL_TRACES_EXPORTER=otlp", "http/protobuf http://localhost:4318/v1/traces", null)]
    [InlineData("OTEL_TRACES_EXPORTER=OTLP;OTEL_EXPORTER_OTLP_PROTOCOL=grpc", "grpc http://localhost:4317", null)]
    [InlineData("OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4317;OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf;OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=grpc", "grpc http://collector:4317", null)]
    // What the gateway cannot carry out is an error, never ignored.
    [InlineData("OTEL_TRACES_EXPORTER=zipkin", null, "OTEL_TRACES_EXPORTER=zipkin")]
    [InlineData("OTEL_TRACES_EXPORTER=otlp,console", null, "not 'console'")]
    [InlineData("OTEL_TRACES_EXPORTER=otlp;OTEL_EXPORTER_OTLP_PROTOCOL=http/json", null, "OTEL_EXPORTER_OTLP_PROTOCOL=http/json")]
    [InlineData("OTEL_EXPORTER_OTLP_ENDPOINT=collector:4318", null, "not an http:// or https:// URL")]
    [InlineData("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=file:///tmp/x", null, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=file:///tmp/x")]
    public void The_otel_variables_decide_whether_and_how_traces_are_exported(string variables, string? export, string? error)
    {
        var env = variables.Split(';', StringSplitOptions.RemoveEmptyEntries).Select(v => v.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
        var result = TraceExport.FromEnvironment(name => env.GetValueOrDefault(name), out var problem);
        Assert.Equal(export, result is null ? null : $"{result.Protocol} {result.Endpoint}");
        if (error is null) Assert.Null(problem);
        else Assert.Contains(error, problem);
    }
}

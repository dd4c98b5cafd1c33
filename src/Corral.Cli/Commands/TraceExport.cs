using Corral.Gateway.Observability;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Corral.Cli.Commands;

/// <summary>
/// Where <c>corral gateway</c> sends its traces, read from the standard OpenTelemetry variables only. Export is on when
/// <c>OTEL_TRACES_EXPORTER</c> names <c>otlp</c>, or when it is unset and <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> or
/// <c>OTEL_EXPORTER_OTLP_TRACES_ENDPOINT</c> is set; off otherwise, and always with <c>OTEL_TRACES_EXPORTER=none</c> or
/// <c>OTEL_SDK_DISABLED=true</c>. Nothing is ever exported unless asked for. The protocol is
/// <c>OTEL_EXPORTER_OTLP_TRACES_PROTOCOL</c> or <c>OTEL_EXPORTER_OTLP_PROTOCOL</c>: <c>http/protobuf</c> (the
/// specification's default, used when neither is set) or <c>grpc</c>. The endpoint, headers, timeout, batching,
/// sampler and resource variables are the SDK's own.
/// </summary>
public sealed record TraceExport(string Protocol, string Endpoint)
{
    private const string TracesExporter = "OTEL_TRACES_EXPORTER", GeneralEndpoint = "OTEL_EXPORTER_OTLP_ENDPOINT", TracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        GeneralProtocol = "OTEL_EXPORTER_OTLP_PROTOCOL", TracesProtocol = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", SdkDisabled = "OTEL_SDK_DISABLED";

    /// <summary>
    /// Reads the variables: the export asked for, or null when traces are off. A setting the gateway cannot carry out
    /// (another exporter, OTLP over JSON, an endpoint that is not an http(s) URL) is an error, never silently ignored.
    /// </summary>
    public static TraceExport? FromEnvironment(Func<string, string?> variable, out string? error)
    {
        error = null;
        string? Get(string name) => variable(name) is { Length: > 0 } value ? value.Trim() : null;
        if (string.Equals(Get(SdkDisabled), "true", StringComparison.OrdinalIgnoreCase)) return null;
        var exporters = (Get(TracesExporter) ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(e => e.ToLowerInvariant()).ToList();
        if (exporters.FirstOrDefault(e => e is not ("otlp" or "none")) is { } other)
        {
            error = $"{TracesExporter}={Get(TracesExporter)}: the gateway exports traces over OTLP only ('otlp', or 'none' for no traces), not '{other}'";
            return null;
        }
        var endpoint = Get(TracesEndpoint) ?? Get(GeneralEndpoint);
        var on = exporters.Count == 0 ? endpoint is not null : exporters.Contains("otlp");
        if (!on) return null;

        var protocol = Get(TracesProtocol) ?? Get(GeneralProtocol) ?? "http/protobuf";
        if (protocol is not ("http/protobuf" or "grpc"))
        {
            error = $"{(Get(TracesProtocol) is null ? GeneralProtocol : TracesProtocol)}={protocol}: the gateway exports OTLP as 'http/protobuf' or 'grpc'";
            return null;
        }
        if (endpoint is not null && (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")))
        {
            error = $"{(Get(TracesEndpoint) is null ? GeneralEndpoint : TracesEndpoint)}={endpoint}: not an http:// or https:// URL";
            return null;
        }
        // What the SDK will dial: the signal path is appended to the general endpoint for http/protobuf, never to the traces one.
        var shown = endpoint is null ? protocol == "grpc" ? "http://localhost:4317" : "http://localhost:4318/v1/traces"
            : Get(TracesEndpoint) is null && protocol == "http/protobuf" ? endpoint.TrimEnd('/') + "/v1/traces" : endpoint;
        return new TraceExport(protocol, shown);
    }

    /// <summary>
    /// The SDK's tracer provider for the gateway's spans, exporting as the variables say; dispose it after the gateway
    /// stops (the last spans are flushed then).
    /// </summary>
    public TracerProvider Start()
    {
        var version = typeof(TraceExport).Assembly.GetName().Version?.ToString(3);
        return Sdk.CreateTracerProviderBuilder()
            // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (read last) override the default service name.
            .SetResourceBuilder(ResourceBuilder.CreateEmpty().AddService("corral-gateway", serviceVersion: version).AddTelemetrySdk().AddEnvironmentVariableDetector())
            .AddSource(FlowTracing.SourceName)
            .AddOtlpExporter(o =>
            {
                // The SDK's default on .NET is gRPC; the specification's (and this rule's) is http/protobuf.
                o.Protocol = Protocol == "grpc" ? OtlpExportProtocol.Grpc : OtlpExportProtocol.HttpProtobuf;
            })
            .Build();
    }
}

using System.Buffers;
using System.Text.Json;
using System.Text.Json.Nodes;
using Corral.Audit;
using Corral.Audit.Ocsf;

namespace Corral.Gateway.FlowLog;

/// <summary>How the flow log writes its records: Corral's own lines (the default) or OCSF events.</summary>
public enum FlowLogFormat { Corral, Ocsf }

/// <summary>
/// Writes a <see cref="FlowRecord"/> as an OCSF event (<c>--flow-log-format ocsf</c>): the native line, mapped by the
/// one mapping <c>corral log export</c> uses (<see cref="OcsfMapping"/>), chain fields included, so that the chain
/// and <c>corral log verify</c> work on an OCSF log as on a native one. Used by the writer's thread only.
/// </summary>
internal sealed class OcsfRecordJson : IDisposable
{
    private readonly ArrayBufferWriter<byte> _native = new(1024);
    private readonly Utf8JsonWriter _json;

    public OcsfRecordJson(JsonWriterOptions options) => _json = new Utf8JsonWriter(_native, options);

    public void Write(Utf8JsonWriter w, FlowRecord record, ChainLink link)
    {
        _native.ResetWrittenCount();
        _json.Reset(_native);
        FlowRecordJson.Write(_json, record, link);
        _json.Flush();
        // Every kind of FlowRecord maps; were one not to, its native line keeps it (and its link) in the log.
        if (JsonNode.Parse(_native.WrittenSpan) is JsonObject native && OcsfMapping.ToOcsf(native, OcsfProduct.Corral) is { } ocsf) ocsf.WriteTo(w);
        else FlowRecordJson.Write(w, record, link);
    }

    public void Dispose() => _json.Dispose();
}

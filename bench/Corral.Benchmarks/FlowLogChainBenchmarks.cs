using System.Buffers;
using System.Net;
using System.Text.Encodings.Web;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using Corral.Audit;
using Corral.Gateway.FlowLog;
using Corral.Policy.Compilation;
using Corral.Policy.Model;

namespace Corral.Benchmarks;

/// <summary>
/// The flow-log writer thread's work per record, with and without the tamper-evidence chain (docs/flow-log.md):
/// a decision record serialized as the writer does, then (chained) with <c>seq</c>/<c>prev</c> and the SHA-256 of
/// the line; the same record written as an OCSF event (<c>--flow-log-format ocsf</c>); and one Ed25519 checkpoint,
/// which the writer signs once per <c>--flow-log-checkpoint-every</c> records. None of this runs on a connection's thread.
/// </summary>
[MemoryDiagnoser]
public class FlowLogChainBenchmarks
{
    private static readonly JsonWriterOptions Options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private readonly ArrayBufferWriter<byte> _line = new(1024);
    private readonly CheckpointSigner _signer = CheckpointSigner.Create();
    private Utf8JsonWriter _json = null!;
    private FlowRecord _record = null!;
    private ChainLink _link = ChainLink.First;
    private readonly OcsfRecordJson _ocsf = new(Options);

    [GlobalSetup]
    public void Setup()
    {
        _json = new Utf8JsonWriter(_line, Options);
        var source = IPAddress.Parse("10.20.1.64");
        _record = new FlowRecord
        {
            Event = FlowEvent.Decision, Time = DateTimeOffset.UtcNow, FlowId = "f123456", Listener = "explicit",
            Source = new IPEndPoint(source, 40002), Destination = new IPEndPoint(IPAddress.Parse("20.18.166.254"), 443),
            Host = "svc6.api1.example.org", Method = "CONNECT", Url = "svc6.api1.example.org:443",
            Verdict = new Verdict(RuleAction.Deny, null, true, false, DecisionReason.DefaultAction, 0, false, null),
            Facts = new Flow { Source = source, Host = "svc6.api1.example.org", Destinations = [IPAddress.Parse("20.18.166.254"), IPAddress.Parse("20.61.101.78")], Port = 443, IsTls = true },
        };
    }

    [Benchmark(Baseline = true, Description = "record, no chain")]
    public int Record()
    {
        _line.ResetWrittenCount();
        _json.Reset(_line);
        FlowRecordJson.Write(_json, _record);
        _json.Flush();
        return _line.WrittenCount;
    }

    [Benchmark(Description = "record, chained (seq, prev, SHA-256)")]
    public int ChainedRecord()
    {
        _line.ResetWrittenCount();
        _json.Reset(_line);
        FlowRecordJson.Write(_json, _record, _link);
        _json.Flush();
        _link = _link.Next(_line.WrittenSpan);
        return _line.WrittenCount;
    }

    [Benchmark(Description = "record, chained, as an OCSF event")]
    public int OcsfRecord()
    {
        _line.ResetWrittenCount();
        _json.Reset(_line);
        _ocsf.Write(_json, _record, _link);
        _json.Flush();
        _link = _link.Next(_line.WrittenSpan);
        return _line.WrittenCount;
    }

    [Benchmark(Description = "one signed checkpoint (Ed25519)")]
    public int SignedCheckpoint() => _signer.Sign(Checkpoint.Message(_link, "2026-12-07T21:05:11.0412387Z", "interval", _signer.KeyId)).Length;
}

using System.Text;
using System.Text.RegularExpressions;
using BenchmarkDotNet.Attributes;
using Corral.Policy.Inspection;
using Corral.Policy.Model;

namespace Corral.Benchmarks;

/// <summary>
/// Payload inspection on the hot path of decrypted requests: 64 KiB bodies fed as one stream chunk, with every
/// built-in pattern on. Plain JSON and prose are the common case; the escaped JSON and the base64 blob make the
/// decoders work. <see cref="BytesOnlyFivePatterns"/> is the scan before decoding and the wider pattern set (five
/// patterns over the bytes as Latin-1), kept as the baseline so a run on a loaded machine still gives a ratio.
/// </summary>
[MemoryDiagnoser]
public class InspectionBenchmarks
{
    private readonly PayloadInspector _inspector = new(InspectionSettings.Default);
    private byte[] _plainJson = [];
    private byte[] _prose = [];
    private byte[] _escapedJson = [];
    private byte[] _base64Blob = [];

    private static readonly Regex[] FivePatterns = new[]
    {
        @"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----",
        @"AccountKey=[A-Za-z0-9+/]{86}==",
        @"\bsv=\d{4}-\d{2}-\d{2}\b[^\s""'<>]{0,512}\bsig=[A-Za-z0-9%/+]{30,}",
        @"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
        @"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
    }.Select(p => new Regex(p, RegexOptions.NonBacktracking | RegexOptions.CultureInvariant)).ToArray();

    [GlobalSetup]
    public void Setup()
    {
        var rnd = new Random(7);
        var json = new StringBuilder("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"search_docs\",\"arguments\":{\"items\":[");
        while (json.Length < 64 * 1024) json.Append("{\"id\":").Append(rnd.Next()).Append(",\"title\":\"weather report for Oslo and Bergen\",\"units\":\"metric\"},");
        _plainJson = Encoding.UTF8.GetBytes(json.Append("{}]}}}").ToString());
        var prose = new StringBuilder();
        while (prose.Length < 64 * 1024) prose.Append("The agent summarised the quarterly report and asked the tool for the next page of results. ");
        _prose = Encoding.UTF8.GetBytes(prose.ToString());
        var escaped = new StringBuilder("{\"text\":\"");
        while (escaped.Length < 64 * 1024) escaped.Append("line with a quote \\\" and a tab \\t and caf\\u00e9\\n");
        _escapedJson = Encoding.UTF8.GetBytes(escaped.Append("\"}").ToString());
        var blob = new byte[48 * 1024];
        rnd.NextBytes(blob);
        _base64Blob = Encoding.ASCII.GetBytes("{\"image\":\"" + Convert.ToBase64String(blob) + "\"}");
    }

    [Benchmark(Baseline = true)]
    public bool BytesOnlyFivePatterns()
    {
        var text = Encoding.Latin1.GetString(_plainJson);
        foreach (var regex in FivePatterns)
            if (regex.IsMatch(text)) return true;
        return false;
    }

    [Benchmark]
    public string? PlainJson() => _inspector.StartStream().Feed(_plainJson);

    [Benchmark]
    public string? Prose() => _inspector.StartStream().Feed(_prose);

    [Benchmark]
    public string? EscapedJson() => _inspector.StartStream().Feed(_escapedJson);

    [Benchmark]
    public string? Base64Blob() => _inspector.StartStream().Feed(_base64Blob);
}

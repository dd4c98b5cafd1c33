using System.Text.Json;
using Json.Schema;

namespace Corral.Testing.Ocsf;

/// <summary>
/// The JSON Schema of OCSF 1.5.0's Network Activity (4001), HTTP Activity (4002) and DNS Activity (4003) with the
/// security_control profile (README.md beside this file: where they come from), and validation of an event against
/// the one its <c>class_uid</c> names.
/// </summary>
public static class OcsfSchemas
{
    private static readonly Dictionary<int, JsonSchema> ByClass = new()
    {
        [4001] = Load("network_activity"), [4002] = Load("http_activity"), [4003] = Load("dns_activity"),
    };

    private static JsonSchema Load(string name)
    {
        using var stream = typeof(OcsfSchemas).Assembly.GetManifestResourceStream($"Corral.Testing.Ocsf.{name}.schema.json")
            ?? throw new InvalidOperationException($"{name}.schema.json is not embedded");
        using var reader = new StreamReader(stream);
        return JsonSchema.FromText(reader.ReadToEnd());
    }

    /// <summary>What is wrong with the event (one line of JSON): empty when it is valid OCSF of a class above.</summary>
    public static List<string> Problems(string line)
    {
        using var document = JsonDocument.Parse(line);
        var root = document.RootElement;
        if (!root.TryGetProperty("class_uid", out var uid) || !uid.TryGetInt32(out var classUid) || !ByClass.TryGetValue(classUid, out var schema))
            return ["no class_uid of Network, HTTP or DNS Activity"];
        var result = schema.Evaluate(root, new EvaluationOptions { OutputFormat = OutputFormat.List });
        if (result.IsValid) return [];
        var problems = (result.Details ?? []).Where(d => d.Errors is not null)
            .SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Key}: {e.Value}")).ToList();
        return problems.Count > 0 ? problems : ["invalid (no details)"];
    }

    /// <summary>Fails with every problem of every invalid event among the lines.</summary>
    public static void AssertValid(IEnumerable<string> lines)
    {
        var invalid = lines.Select(l => (Line: l, Problems: Problems(l))).Where(x => x.Problems.Count > 0).ToList();
        Assert.True(invalid.Count == 0, string.Join("\n\n", invalid.Take(5).Select(x => $"{x.Line}\n  {string.Join("\n  ", x.Problems)}")));
    }
}

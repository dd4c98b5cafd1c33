using System.Text.Json;
using System.Text.RegularExpressions;
using Corral.Testing;

namespace Corral.Terraform.Tests;

/// <summary>One resource or data block of a parsed module, by its Terraform address (<c>type.name</c> or <c>data.type.name</c>).</summary>
internal sealed record ModuleBlock(string Address, string Type, string Name, bool IsData, JsonElement Body);

/// <summary>
/// A generated module as HashiCorp's parser reads it (HCL JSON), with what the whole-module checks need: its blocks,
/// variables' defaults, locals, the references each block makes (directly, through locals, and by depends_on), and a
/// small evaluator for the string templates the module names objects with.
/// </summary>
internal sealed partial class ParsedModule
{
    [GeneratedRegex(@"\b(data\.)?((?:aviatrix|azurerm)_[a-z0-9_]+)\.([a-z0-9_]+)")]
    private static partial Regex ResourceReference();

    [GeneratedRegex(@"\blocal\.([a-z0-9_]+)")]
    private static partial Regex LocalReference();

    [GeneratedRegex(@"\$\{([^{}]*)\}")]
    private static partial Regex Interpolation();

    public IReadOnlyDictionary<string, ModuleBlock> Blocks { get; }
    public IReadOnlyDictionary<string, JsonElement> Variables { get; }
    public IReadOnlyDictionary<string, JsonElement> Locals { get; }

    private ParsedModule(Dictionary<string, ModuleBlock> blocks, Dictionary<string, JsonElement> variables, Dictionary<string, JsonElement> locals)
    {
        Blocks = blocks;
        Variables = variables;
        Locals = locals;
    }

    public static ParsedModule Parse(string folder)
    {
        var blocks = new Dictionary<string, ModuleBlock>(StringComparer.Ordinal);
        var variables = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        var locals = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var file in HclParser.ParseFolder(folder).EnumerateObject())
        {
            foreach (var (kind, isData) in new[] { ("resource", false), ("data", true) })
                if (file.Value.TryGetProperty(kind, out var byType))
                    foreach (var type in byType.EnumerateObject())
                    foreach (var name in type.Value.EnumerateObject())
                    {
                        var address = (isData ? "data." : "") + type.Name + "." + name.Name;
                        blocks.Add(address, new ModuleBlock(address, type.Name, name.Name, isData, name.Value[0]));
                    }
            if (file.Value.TryGetProperty("variable", out var vars))
                foreach (var v in vars.EnumerateObject()) variables.Add(v.Name, v.Value[0]);
            if (file.Value.TryGetProperty("locals", out var localBlocks))
                foreach (var block in localBlocks.EnumerateArray())
                foreach (var l in block.EnumerateObject()) locals.Add(l.Name, l.Value);
        }
        return new ParsedModule(blocks, variables, locals);
    }

    /// <summary>The blocks a block refers to, through its expressions, the locals they use, and depends_on.</summary>
    public IReadOnlySet<string> DirectDependencies(string address)
    {
        var found = new HashSet<string>(StringComparer.Ordinal);
        var seenLocals = new HashSet<string>(StringComparer.Ordinal);
        void Scan(JsonElement element)
        {
            foreach (var text in Strings(element))
            {
                foreach (Match m in ResourceReference().Matches(text))
                {
                    var target = (m.Groups[1].Success ? "data." : "") + m.Groups[2].Value + "." + m.Groups[3].Value;
                    if (Blocks.ContainsKey(target) && target != address) found.Add(target);
                }
                foreach (Match m in LocalReference().Matches(text))
                    if (seenLocals.Add(m.Groups[1].Value) && Locals.TryGetValue(m.Groups[1].Value, out var local)) Scan(local);
            }
        }
        Scan(Blocks[address].Body);
        return found;
    }

    /// <summary>Everything a block depends on, transitively: what Terraform creates before it and destroys after it.</summary>
    public IReadOnlySet<string> Dependencies(string address)
    {
        var all = new HashSet<string>(StringComparer.Ordinal);
        var queue = new Queue<string>([address]);
        while (queue.TryDequeue(out var next))
            foreach (var d in DirectDependencies(next))
                if (all.Add(d)) queue.Enqueue(d);
        return all;
    }

    public IEnumerable<ModuleBlock> OfType(string type) => Blocks.Values.Where(b => b.Type == type && !b.IsData);

    public static string? Text(JsonElement body, string name) =>
        body.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    /// <summary>Every string in an element, at any depth.</summary>
    public static IEnumerable<string> Strings(JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.String: yield return element.GetString()!; break;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                foreach (var s in Strings(item)) yield return s;
                break;
            case JsonValueKind.Object:
                foreach (var p in element.EnumerateObject())
                foreach (var s in Strings(p.Value)) yield return s;
                break;
        }
    }

    /// <summary>
    /// A variable's value: the one given, else its default; null when neither (or its default is null). Booleans and
    /// strings only, which is all a name or a count here depends on.
    /// </summary>
    public string? Value(string variable, IReadOnlyDictionary<string, string> given) =>
        given.TryGetValue(variable, out var v) ? v
        : Variables.TryGetValue(variable, out var decl) && decl.TryGetProperty("default", out var d) && d.ValueKind != JsonValueKind.Null
            ? d.ValueKind switch { JsonValueKind.True => "true", JsonValueKind.False => "false", _ => d.ToString() }
            : null;

    /// <summary>
    /// How many instances a block has with the given variables: its <c>count</c>, when that is a literal or
    /// <c>var.X ? a : b</c>; 1 without one. Anything else fails the test, so a new form of count is never guessed at.
    /// </summary>
    public int Count(ModuleBlock block, IReadOnlyDictionary<string, string> given)
    {
        if (!block.Body.TryGetProperty("count", out var count)) return 1;
        if (count.ValueKind == JsonValueKind.Number) return count.GetInt32();
        var m = Regex.Match(count.GetString()!, @"^\$\{var\.([a-z0-9_]+) \? (\d+) : (\d+)\}$");
        Assert.True(m.Success, $"{block.Address}: count {count} is not of the form var.X ? a : b");
        var flag = Value(m.Groups[1].Value, given);
        Assert.True(flag is "true" or "false", $"{block.Address}: count's variable {m.Groups[1].Value} has no boolean value");
        return int.Parse(flag == "true" ? m.Groups[2].Value : m.Groups[3].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Evaluates a string attribute as the names are written: literals, <c>${var.X}</c>, <c>${local.X}</c>, <c>coalesce(a, b)</c>
    /// of those, and <c>${type.name.name}</c> (another block's evaluated name; a data source's name is what it looks up).
    /// Returns null for anything else, which the checks treat as a failure.
    /// </summary>
    public string? Evaluate(string template, IReadOnlyDictionary<string, string> given, int depth = 0)
    {
        if (depth > 8) return null;
        // Innermost interpolations first, so that "corral-${var.x}" inside coalesce(…) is a literal by the time coalesce is read.
        var result = template;
        for (var pass = 0; pass < 8 && Interpolation().IsMatch(result); pass++)
        {
            var failed = false;
            result = Interpolation().Replace(result, m =>
            {
                var value = Expression(m.Groups[1].Value.Trim(), given, depth);
                if (value is null) failed = true;
                return value ?? "";
            });
            if (failed) return null;
        }
        return Interpolation().IsMatch(result) ? null : result;
    }

    private string? Expression(string expression, IReadOnlyDictionary<string, string> given, int depth)
    {
        if (expression.StartsWith("var.", StringComparison.Ordinal)) return Value(expression[4..], given);
        if (expression.StartsWith("local.", StringComparison.Ordinal))
            return Locals.TryGetValue(expression[6..], out var local) && local.ValueKind == JsonValueKind.String ? Evaluate(local.GetString()!, given, depth + 1) : null;
        var coalesce = Regex.Match(expression, @"^coalesce\(([^,]+), ""(.*)""\)$");
        if (coalesce.Success)
            return Expression(coalesce.Groups[1].Value.Trim(), given, depth) ?? Evaluate(coalesce.Groups[2].Value.Replace("\\\"", "\""), given, depth + 1);
        var attribute = Regex.Match(expression, @"^((?:data\.)?[a-z0-9_]+\.[a-z0-9_]+)\.name$");
        if (attribute.Success && Blocks.TryGetValue(attribute.Groups[1].Value, out var block) && Text(block.Body, "name") is { } name)
            return Evaluate(name, given, depth + 1);
        return null;
    }
}

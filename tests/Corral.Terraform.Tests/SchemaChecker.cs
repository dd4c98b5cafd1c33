using System.Text.Json;

namespace Corral.Terraform.Tests;

/// <summary>
/// Checks a module, parsed to HCL JSON by HashiCorp's parser, against one provider release: every resource and data
/// type is known, every argument and block exists and is settable, every required one is present, literal values are
/// inside their enums and of their type, and no block repeats beyond MaxItems. Expressions (<c>${…}</c>) are checked
/// for placement only; their values are Terraform's to compute.
/// </summary>
internal static class SchemaChecker
{
    public static List<string> Check(JsonElement parsedFolder, ProviderRelease release)
    {
        var problems = new List<string>();
        foreach (var file in parsedFolder.EnumerateObject())
        foreach (var (kind, schemas) in new[] { ("resource", release.Resources), ("data", release.DataSources) })
        {
            if (!file.Value.TryGetProperty(kind, out var byType)) continue;
            foreach (var type in byType.EnumerateObject())
            {
                if (!schemas.TryGetValue(type.Name, out var schema))
                {
                    problems.Add($"{file.Name}: {kind} type {type.Name} is not in {release}'s schema");
                    continue;
                }
                foreach (var instance in type.Value.EnumerateObject())
                foreach (var body in instance.Value.EnumerateArray())
                    CheckBody(body, schema, $"{file.Name}: {kind} {type.Name}.{instance.Name}", problems, topLevel: true);
            }
        }
        return problems;
    }

    private static void CheckBody(JsonElement body, BlockSchema schema, string where, List<string> problems, bool topLevel)
    {
        var blockCounts = new Dictionary<string, int>(StringComparer.Ordinal);
        var dynamicBlocks = new HashSet<string>(StringComparer.Ordinal);
        foreach (var property in body.EnumerateObject())
        {
            var name = property.Name;
            if (topLevel && ProviderSchemas.MetaArguments.Contains(name)) continue;
            if (name == "dynamic")
            {
                foreach (var dynamicBlock in property.Value.EnumerateObject())
                {
                    dynamicBlocks.Add(dynamicBlock.Name);
                    if (!schema.Arguments.TryGetValue(dynamicBlock.Name, out var inner) || inner.Block is null)
                    {
                        problems.Add($"{where}: dynamic block '{dynamicBlock.Name}' is not a block of the schema");
                        continue;
                    }
                    foreach (var d in dynamicBlock.Value.EnumerateArray())
                    foreach (var content in d.GetProperty("content").EnumerateArray())
                        CheckBody(content, inner.Block, $"{where}.{dynamicBlock.Name}", problems, topLevel: false);
                }
                continue;
            }
            if (!schema.Arguments.TryGetValue(name, out var argument))
            {
                problems.Add($"{where}: unknown argument or block '{name}'");
                continue;
            }
            if (!argument.Settable)
            {
                problems.Add($"{where}: '{name}' is computed by the provider and cannot be set");
                continue;
            }
            if (argument.Block is not null)
            {
                if (property.Value.ValueKind != JsonValueKind.Array)
                {
                    problems.Add($"{where}: '{name}' is a block, written as an attribute");
                    continue;
                }
                blockCounts[name] = property.Value.GetArrayLength();
                foreach (var item in property.Value.EnumerateArray()) CheckBody(item, argument.Block, $"{where}.{name}", problems, topLevel: false);
                continue;
            }
            CheckValue(property.Value, argument, $"{where}.{name}", problems);
        }

        foreach (var (name, argument) in schema.Arguments)
        {
            if (argument.Required && !body.TryGetProperty(name, out _) && !dynamicBlocks.Contains(name))
                problems.Add($"{where}: required {(argument.Block is null ? "argument" : "block")} '{name}' is missing");
            if (argument.MaxItems is { } max && blockCounts.GetValueOrDefault(name) > max)
                problems.Add($"{where}: {blockCounts[name]} '{name}' blocks, the provider takes at most {max}");
        }
    }

    private static void CheckValue(JsonElement value, ArgumentSchema argument, string where, List<string> problems)
    {
        if (value.ValueKind == JsonValueKind.String && value.GetString()!.Contains("${", StringComparison.Ordinal)) return; // an expression
        var ok = argument.Type switch
        {
            "TypeString" => value.ValueKind == JsonValueKind.String,
            "TypeInt" => value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out _),
            "TypeBool" => value.ValueKind is JsonValueKind.True or JsonValueKind.False,
            "TypeList" or "TypeSet" => value.ValueKind == JsonValueKind.Array,
            "TypeMap" => value.ValueKind == JsonValueKind.Object,
            _ => true,
        };
        if (!ok)
        {
            problems.Add($"{where}: {value.ValueKind} value {value.GetRawText()} where the provider takes {argument.Type}");
            return;
        }
        if (argument.Enum is { } allowed && value.ValueKind == JsonValueKind.String && !allowed.Contains(value.GetString()!, StringComparer.Ordinal))
            problems.Add($"{where}: \"{value.GetString()}\" is not one of {string.Join(", ", allowed)}");
    }
}

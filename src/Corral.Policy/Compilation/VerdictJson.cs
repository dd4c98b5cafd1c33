using System.Text.Json;
using Corral.Policy.Model;

namespace Corral.Policy.Compilation;

/// <summary>
/// The one verdict shape shared by <c>explain --json</c> and every flow-log record:
/// <c>{"action","rule","priority","enforced","decrypt","reason"}</c>.
/// </summary>
public static class VerdictJson
{
    public static void WriteProperties(Utf8JsonWriter writer, in Verdict verdict)
    {
        writer.WriteString("action", verdict.Action == RuleAction.Permit ? "permit" : "deny");
        if (verdict.Rule is { } rule)
        {
            writer.WriteString("rule", rule.Name);
            writer.WriteNumber("priority", rule.Priority);
        }
        else
        {
            writer.WriteNull("rule");
            writer.WriteNull("priority");
        }
        writer.WriteBoolean("enforced", verdict.Enforced);
        writer.WriteBoolean("decrypt", verdict.Decrypt);
        writer.WriteString("reason", verdict.ReasonText);
    }

    public static void Write(Utf8JsonWriter writer, in Verdict verdict)
    {
        writer.WriteStartObject();
        WriteProperties(writer, verdict);
        writer.WriteEndObject();
    }
}

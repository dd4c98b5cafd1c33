using System.Text;

namespace Corral.Terraform.Hcl;

/// <summary>
/// Renders an <see cref="HclBody"/> as <c>terraform fmt</c> would: two-space indentation, one space around <c>=</c>,
/// and the <c>=</c> of consecutive single-line attributes aligned. As in hclwrite, a run of aligned attributes ends at
/// a blank line, a comment, a nested block or an attribute whose value spans lines (an object or a one-item-a-line list).
/// </summary>
public static class HclWriter
{
    public static string Write(HclBody file)
    {
        var sb = new StringBuilder();
        WriteBody(sb, file, 0);
        return sb.ToString();
    }

    private static void WriteBody(StringBuilder sb, HclBody body, int depth)
    {
        var items = body.Items;
        var indent = new string(' ', depth * 2);
        for (var i = 0; i < items.Count; i++)
        {
            switch (items[i])
            {
                case HclAttribute attribute:
                    var width = attribute.Value.IsMultiLine ? attribute.Name.Length : RunWidth(items, i);
                    WriteAttribute(sb, indent, attribute.Name, attribute.Value, width, depth);
                    break;
                case HclComment comment:
                    sb.Append(indent).Append(comment.Text.Length == 0 ? "#" : "# " + comment.Text).Append('\n');
                    break;
                case HclBlank:
                    sb.Append('\n');
                    break;
                case HclBlock block:
                    sb.Append(indent).Append(block.Type);
                    foreach (var label in block.Labels) sb.Append(' ').Append(new HclString(label));
                    if (block.Body.Items.Count == 0)
                    {
                        sb.Append(" {}\n");
                        break;
                    }
                    sb.Append(" {\n");
                    WriteBody(sb, block.Body, depth + 1);
                    sb.Append(indent).Append("}\n");
                    break;
            }
        }
    }

    /// <summary>The longest name among the single-line attributes in the run that contains item <paramref name="index"/>.</summary>
    private static int RunWidth(IReadOnlyList<HclItem> items, int index)
    {
        var start = index;
        while (start > 0 && IsAligned(items[start - 1])) start--;
        var width = 0;
        for (var j = start; j < items.Count && IsAligned(items[j]); j++)
            width = Math.Max(width, ((HclAttribute)items[j]).Name.Length);
        return width;
    }

    private static bool IsAligned(HclItem item) => item is HclAttribute { Value.IsMultiLine: false };

    private static void WriteAttribute(StringBuilder sb, string indent, string name, HclExpression value, int width, int depth)
    {
        sb.Append(indent).Append(name.PadRight(width)).Append(" = ");
        if (value is HclObject obj)
        {
            sb.Append("{\n");
            var inner = new HclBody();
            foreach (var (key, v) in obj.Entries) inner.Attribute(key, v);
            WriteBody(sb, inner, depth + 1);
            sb.Append(indent).Append("}\n");
        }
        else if (value is HclListLines lines)
        {
            sb.Append("[\n");
            foreach (var item in lines.Items) sb.Append(indent).Append("  ").Append(item).Append(",\n");
            sb.Append(indent).Append("]\n");
        }
        else sb.Append(value).Append('\n');
    }
}

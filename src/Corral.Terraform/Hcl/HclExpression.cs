using System.Globalization;
using System.Text;

namespace Corral.Terraform.Hcl;

/// <summary>The right-hand side of an HCL attribute: a literal, a reference, a list or an object.</summary>
public abstract record HclExpression
{
    public static HclExpression Of(string text) => new HclString(text);
    public static HclExpression Of(int number) => new HclNumber(number);
    public static HclExpression Of(bool value) => new HclBool(value);

    /// <summary>An expression written as is: a reference such as <c>var.name</c>, a call or a template.</summary>
    public static HclExpression Raw(string expression) => new HclRaw(expression);

    public static HclExpression List(IEnumerable<HclExpression> items) => new HclList(items.ToArray());
    public static HclExpression Strings(IEnumerable<string> items) => new HclList(items.Select(Of).ToArray());

    /// <summary>A list written one item a line, for lists too long to read on one.</summary>
    public static HclExpression StringLines(IEnumerable<string> items) => new HclListLines(items.Select(i => new HclString(i)).ToArray());

    /// <summary>True when the expression spans several lines (an object), which <c>terraform fmt</c> never aligns.</summary>
    internal virtual bool IsMultiLine => false;
}

/// <summary>A quoted string; escapes quotes, backslashes, control characters and template sequences.</summary>
public sealed record HclString(string Value) : HclExpression
{
    public override string ToString()
    {
        var sb = new StringBuilder("\"");
        for (var i = 0; i < Value.Length; i++)
        {
            var c = Value[i];
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                // "${" and "%{" start template sequences; doubling the sigil makes them literal.
                case '$' or '%' when i + 1 < Value.Length && Value[i + 1] == '{': sb.Append(c).Append(c); break;
                default:
                    if (char.IsControl(c)) sb.Append("\\u").Append(((int)c).ToString("X4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        return sb.Append('"').ToString();
    }
}

/// <summary>A whole number.</summary>
public sealed record HclNumber(int Value) : HclExpression
{
    public override string ToString() => Value.ToString(CultureInfo.InvariantCulture);
}

/// <summary>true or false.</summary>
public sealed record HclBool(bool Value) : HclExpression
{
    public override string ToString() => Value ? "true" : "false";
}

/// <summary>An expression emitted verbatim; the caller guarantees it is valid HCL.</summary>
public sealed record HclRaw(string Expression) : HclExpression
{
    public override string ToString() => Expression;
}

/// <summary>A list on one line: <c>[a, b]</c>.</summary>
public sealed record HclList(IReadOnlyList<HclExpression> Items) : HclExpression
{
    public override string ToString() => "[" + string.Join(", ", Items.Select(i => i.ToString())) + "]";
}

/// <summary>A list written one item a line, each followed by a comma, as <c>terraform fmt</c> keeps a multi-line list.</summary>
public sealed record HclListLines(IReadOnlyList<HclExpression> Items) : HclExpression
{
    internal override bool IsMultiLine => true;
}

/// <summary>An object written one key a line, as <c>terraform fmt</c> lays out multi-line objects.</summary>
public sealed record HclObject(IReadOnlyList<KeyValuePair<string, HclExpression>> Entries) : HclExpression
{
    internal override bool IsMultiLine => true;
}

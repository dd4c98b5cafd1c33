namespace Corral.Terraform.Hcl;

/// <summary>One line-level element of a body: an attribute, a nested block, a comment or a blank line.</summary>
public abstract record HclItem;

/// <summary><c>name = value</c>.</summary>
public sealed record HclAttribute(string Name, HclExpression Value) : HclItem;

/// <summary>A <c># …</c> comment line.</summary>
public sealed record HclComment(string Text) : HclItem;

/// <summary>An empty line (it also ends a run of aligned attributes, as in <c>terraform fmt</c>).</summary>
public sealed record HclBlank : HclItem
{
    public static readonly HclBlank Instance = new();
}

/// <summary><c>type "label" … { body }</c>.</summary>
public sealed record HclBlock(string Type, IReadOnlyList<string> Labels, HclBody Body) : HclItem;

/// <summary>An ordered list of items; built fluently, rendered by <see cref="HclWriter"/>.</summary>
public sealed class HclBody
{
    private readonly List<HclItem> _items = [];

    public IReadOnlyList<HclItem> Items => _items;

    public HclBody Attribute(string name, HclExpression value)
    {
        _items.Add(new HclAttribute(name, value));
        return this;
    }

    public HclBody Attribute(string name, string value) => Attribute(name, HclExpression.Of(value));
    public HclBody Attribute(string name, int value) => Attribute(name, HclExpression.Of(value));
    public HclBody Attribute(string name, bool value) => Attribute(name, HclExpression.Of(value));

    /// <summary>A reference or other expression written as is.</summary>
    public HclBody Expression(string name, string expression) => Attribute(name, HclExpression.Raw(expression));

    public HclBody Comment(string text)
    {
        foreach (var line in text.Split('\n')) _items.Add(new HclComment(line));
        return this;
    }

    public HclBody Blank()
    {
        _items.Add(HclBlank.Instance);
        return this;
    }

    public HclBody Block(string type, Action<HclBody> build) => Block(type, [], build);

    public HclBody Block(string type, IReadOnlyList<string> labels, Action<HclBody> build)
    {
        var body = new HclBody();
        build(body);
        _items.Add(new HclBlock(type, labels, body));
        return this;
    }

    /// <summary>A top-level block (with its own comment), set off from what precedes it by a blank line.</summary>
    public HclBody TopBlock(string type, IReadOnlyList<string> labels, Action<HclBody> build, string? comment = null)
    {
        if (_items.Count > 0 && _items[^1] is not HclBlank) Blank();
        if (comment is not null) Comment(comment);
        return Block(type, labels, build);
    }
}

using System.Text;
using Corral.Policy.Diagnostics;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Corral.Policy.Loading;

/// <summary>A YAML node with its position; the loader walks these instead of a deserializer so every error has a place.</summary>
internal abstract record YNode(SourceLocation Location)
{
    /// <summary>Character offsets of the node in the text (end exclusive), for edits that keep the rest of the file as written.</summary>
    public int StartIndex { get; init; }
    public int EndIndex { get; init; }
}

internal sealed record YScalar(string Value, bool IsPlain, SourceLocation Location) : YNode(Location)
{
    public bool IsNull => IsPlain && Value is "" or "~" or "null" or "Null" or "NULL";
}

internal sealed record YSequence(IReadOnlyList<YNode> Items, SourceLocation Location) : YNode(Location);

internal sealed record YMapping(IReadOnlyList<KeyValuePair<YScalar, YNode>> Entries, SourceLocation Location) : YNode(Location)
{
    /// <summary>Written as <c>{ a: 1, b: 2 }</c> rather than as indented lines.</summary>
    public bool IsFlow { get; init; }
}

/// <summary>
/// Reads untrusted YAML into a position-carrying tree within fixed bounds: size, nesting depth, node count,
/// one document, no anchors or aliases (which is what makes alias bombs impossible), no custom tags.
/// </summary>
internal static class YamlTree
{
    public const long MaxBytes = 64L * 1024 * 1024;
    public const int MaxDepth = 32;
    public const int MaxNodes = 2_000_000;

    public static YNode? Read(string displayPath, byte[] bytes, DiagnosticBag diagnostics)
    {
        var start = SourceLocation.None(displayPath);
        if (bytes.Length > MaxBytes)
        {
            diagnostics.Error("file-too-large", start, $"file is {bytes.Length:N0} bytes; the limit is {MaxBytes:N0}");
            return null;
        }
        if (Array.IndexOf(bytes, (byte)0) >= 0)
        {
            diagnostics.Error("not-text", start, "file contains NUL bytes: this is not a YAML text file");
            return null;
        }
        string text;
        try
        {
            text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            diagnostics.Error("not-text", start, "file is not valid UTF-8 text");
            return null;
        }
        if (text.Length > 0 && text[0] == '\uFEFF') text = text[1..];

        var parser = new Parser(new StringReader(text));
        var builder = new Builder(parser, displayPath, diagnostics);
        try
        {
            return builder.ReadStream();
        }
        catch (YamlException ex)
        {
            var at = new SourceLocation(displayPath, (int)ex.Start.Line, (int)ex.Start.Column);
            diagnostics.Error("yaml-syntax", at, Clean(ex.Message));
            return null;
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException or FormatException or IndexOutOfRangeException)
        {
            // YamlDotNet's scanner throws these on some malformed input (aaubry/YamlDotNet#541): still a syntax error.
            diagnostics.Error("yaml-syntax", builder.LastLocation, "YAML syntax error near here (an unterminated '{' or '['?)");
            return null;
        }
    }

    private static string Clean(string message)
    {
        // YamlDotNet prefixes "(Line: 3, Col: 1, Idx: …) - (…): " to its messages; the location is ours to print.
        var i = message.LastIndexOf("): ", StringComparison.Ordinal);
        return i >= 0 ? message[(i + 3)..] : message;
    }

    private sealed class Builder(Parser parser, string file, DiagnosticBag diagnostics)
    {
        private int _nodes;

        /// <summary>Where the last event the parser produced started: the best place to point at when it fails.</summary>
        public SourceLocation LastLocation => parser.Current is { } e ? At(e) : new SourceLocation(file, 1, 1);

        private SourceLocation At(ParsingEvent e) => new(file, (int)e.Start.Line, (int)e.Start.Column);

        public YNode? ReadStream()
        {
            parser.Consume<StreamStart>();
            if (parser.TryConsume<StreamEnd>(out _)) return null;
            parser.Consume<DocumentStart>();
            var root = ReadNode(0);
            parser.Consume<DocumentEnd>();
            if (parser.Current is DocumentStart second)
            {
                diagnostics.Error("multiple-documents", At(second), "the policy file must hold one YAML document", "remove the '---' separator");
                return null;
            }
            return root;
        }

        private YNode? ReadNode(int depth)
        {
            var current = parser.Current ?? throw new YamlException("unexpected end of input");
            if (++_nodes > MaxNodes) throw new YamlException(current.Start, current.End, $"more than {MaxNodes:N0} YAML nodes");
            if (depth > MaxDepth) throw new YamlException(current.Start, current.End, $"nesting deeper than {MaxDepth} levels");
            switch (current)
            {
                case AnchorAlias alias:
                    throw new YamlException(alias.Start, alias.End, $"aliases (*{alias.Value}) are not supported in policy files; write the value out");
                case NodeEvent { Anchor.IsEmpty: false } anchored:
                    throw new YamlException(anchored.Start, anchored.End, $"anchors (&{anchored.Anchor}) are not supported in policy files");
                case NodeEvent { Tag.IsEmpty: false } tagged when !tagged.Tag.Value.StartsWith("tag:yaml.org,2002:", StringComparison.Ordinal):
                    throw new YamlException(tagged.Start, tagged.End, $"custom tag {tagged.Tag.Value} is not supported");
                case Scalar scalar:
                    parser.MoveNext();
                    return new YScalar(scalar.Value, scalar.Style == ScalarStyle.Plain, At(scalar)) { StartIndex = (int)scalar.Start.Index, EndIndex = (int)scalar.End.Index };
                case SequenceStart seqStart:
                {
                    parser.MoveNext();
                    var items = new List<YNode>();
                    SequenceEnd seqEnd;
                    while (!parser.TryConsume<SequenceEnd>(out seqEnd!))
                    {
                        var item = ReadNode(depth + 1);
                        if (item is not null) items.Add(item);
                    }
                    return new YSequence(items, At(seqStart)) { StartIndex = (int)seqStart.Start.Index, EndIndex = (int)seqEnd.End.Index };
                }
                case MappingStart mapStart:
                {
                    parser.MoveNext();
                    var entries = new List<KeyValuePair<YScalar, YNode>>();
                    var seen = new Dictionary<string, SourceLocation>(StringComparer.Ordinal);
                    MappingEnd mapEnd;
                    while (!parser.TryConsume<MappingEnd>(out mapEnd!))
                    {
                        var keyEvent = parser.Current!;
                        var key = ReadNode(depth + 1);
                        var value = ReadNode(depth + 1);
                        if (key is not YScalar keyScalar)
                        {
                            diagnostics.Error("bad-key", At(keyEvent), "mapping keys must be plain strings");
                            continue;
                        }
                        if (seen.TryGetValue(keyScalar.Value, out var first))
                        {
                            diagnostics.Error("duplicate-key", keyScalar.Location, $"duplicate key '{keyScalar.Value}'", $"first defined at {first}");
                            continue;
                        }
                        seen[keyScalar.Value] = keyScalar.Location;
                        entries.Add(new(keyScalar, value ?? new YScalar("", true, keyScalar.Location)));
                    }
                    return new YMapping(entries, At(mapStart)) { StartIndex = (int)mapStart.Start.Index, EndIndex = (int)mapEnd.End.Index, IsFlow = mapStart.Style == MappingStyle.Flow };
                }
                default:
                    throw new YamlException(current.Start, current.End, $"unexpected {current.GetType().Name}");
            }
        }
    }
}

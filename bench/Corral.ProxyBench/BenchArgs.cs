using System.Globalization;

namespace Corral.ProxyBench;

/// <summary>"--name value" options; a malformed number is a clear error, not a crash deep inside a measurement.</summary>
sealed class BenchArgs(string[] args)
{
    public bool Has(string name) => Array.IndexOf(args, name) >= 0;

    public string Text(string name, string fallback)
    {
        var i = Array.IndexOf(args, name);
        if (i < 0) return fallback;
        if (i + 1 >= args.Length) throw new ArgumentException($"{name} needs a value");
        return args[i + 1];
    }

    public int Int(string name, int fallback) => (int)Double(name, fallback);

    public double Double(string name, double fallback)
    {
        var text = Text(name, "");
        if (text == "") return fallback;
        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v >= 0
            ? v : throw new ArgumentException($"{name} '{text}' is not a non-negative number");
    }
}

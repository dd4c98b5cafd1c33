using System.Globalization;

namespace Corral.Policy.Addressing;

/// <summary>
/// Host name normalization shared by policy patterns and flows: lower case, no trailing dot,
/// internationalized names as punycode, RFC 1035 lengths.
/// </summary>
public static class HostName
{
    public const int MaxLength = 253;
    public const int MaxLabelLength = 63;
    private static readonly IdnMapping Idn = new() { AllowUnassigned = false, UseStd3AsciiRules = false };

    /// <summary>Normalizes a host name, or says why it is not one. IP literals are not names: check <see cref="IpLiteral"/> first.</summary>
    public static bool TryNormalize(string? input, out string normalized, out string? error)
    {
        normalized = "";
        if (string.IsNullOrWhiteSpace(input)) { error = "empty host name"; return false; }
        var s = input.Trim();
        if (s.EndsWith('.')) s = s[..^1];
        if (s.Length == 0) { error = "empty host name"; return false; }
        if (!IsAscii(s))
        {
            // Lower-case first: the IDN mapping alone does not fold every upper-case letter.
            try { s = Idn.GetAscii(s.ToLowerInvariant()); }
            catch (ArgumentException) { error = "not a valid internationalized domain name"; return false; }
        }
        s = s.ToLowerInvariant();
        if (!TryValidateAscii(s, out error)) return false;
        normalized = s;
        return true;
    }

    /// <summary>Checks an already lower-case ASCII name: label lengths, total length, allowed characters.</summary>
    internal static bool TryValidateAscii(string s, out string? error)
    {
        if (s.Length > MaxLength) { error = $"name is {s.Length} characters; at most {MaxLength} are allowed"; return false; }
        var labelStart = 0;
        for (var i = 0; i <= s.Length; i++)
        {
            if (i == s.Length || s[i] == '.')
            {
                var labelLength = i - labelStart;
                if (labelLength == 0) { error = "empty label (two dots in a row, or a leading dot)"; return false; }
                if (labelLength > MaxLabelLength) { error = $"a label is {labelLength} characters; at most {MaxLabelLength} are allowed"; return false; }
                labelStart = i + 1;
                continue;
            }
            var c = s[i];
            if (!(c is >= 'a' and <= 'z' or >= '0' and <= '9' or '-' or '_'))
            {
                error = c == '*' ? "'*' is only allowed as the whole first label ('*.example.com')" : $"character '{c}' is not allowed in a host name";
                return false;
            }
        }
        error = null;
        return true;
    }

    private static bool IsAscii(string s)
    {
        foreach (var c in s) if (c > 0x7F) return false;
        return true;
    }
}

/// <summary>A web-group domain: an exact name, or <c>*.name</c> for every name strictly below it.</summary>
public readonly record struct DomainPattern(string Suffix, bool IsWildcard)
{
    public override string ToString() => IsWildcard ? "*." + Suffix : Suffix;

    /// <summary>Does this pattern match a normalized host name?</summary>
    public bool Matches(string host) =>
        IsWildcard
            ? host.Length > Suffix.Length + 1 && host.EndsWith(Suffix, StringComparison.Ordinal) && host[^(Suffix.Length + 1)] == '.'
            : host == Suffix;

    /// <summary>Does every name this pattern matches also match <paramref name="other"/>?</summary>
    public bool IsCoveredBy(DomainPattern other) =>
        other.IsWildcard
            ? (IsWildcard ? Suffix == other.Suffix || new DomainPattern(other.Suffix, true).Matches(Suffix) : other.Matches(Suffix))
            : !IsWildcard && Suffix == other.Suffix;

    /// <summary>Parses <c>example.com</c> or <c>*.example.com</c>; refuses every other wildcard form.</summary>
    public static bool TryParse(string? text, out DomainPattern pattern, out string? error)
    {
        pattern = default;
        if (string.IsNullOrWhiteSpace(text)) { error = "empty domain"; return false; }
        var s = text.Trim();
        var wildcard = false;
        if (s == "*" || s == "*.")
        {
            error = "'*' alone would match every name; use the built-in destination 'public-internet' for a catch-all";
            return false;
        }
        if (s.StartsWith("*.", StringComparison.Ordinal))
        {
            wildcard = true;
            s = s[2..];
        }
        else if (s.StartsWith('*'))
        {
            error = $"a wildcard must be a whole label: '*.{s.TrimStart('*').TrimStart('.')}'";
            return false;
        }
        if (s.Contains('*'))
        {
            error = "'*' is only allowed as the whole first label ('*.example.com')";
            return false;
        }
        if (IpLiteral.TryParse(s, out _))
        {
            error = "an IP address is not a domain; put it in a smart group's cidrs";
            return false;
        }
        if (!HostName.TryNormalize(s, out var normalized, out error)) return false;
        if (wildcard && normalized.Length + 2 > HostName.MaxLength)
        {
            error = $"name is longer than {HostName.MaxLength} characters";
            return false;
        }
        pattern = new DomainPattern(normalized, wildcard);
        return true;
    }
}

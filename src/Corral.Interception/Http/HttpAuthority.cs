using Corral.Policy.Addressing;
using Corral.Policy.Compilation;

namespace Corral.Interception.Http;

/// <summary>
/// The one authority parser: "host:port" of a CONNECT target, the authority of an absolute URL, and a Host header.
/// The host is a name or an IP literal in any spelling; <see cref="NameOf"/> gives the one text names are compared by.
/// </summary>
public static class HttpAuthority
{
    /// <param name="defaultPort">The port when none is written; null when a port is required (CONNECT).</param>
    public static bool TryParse(string text, int? defaultPort, out Destination destination, out int port, out string? error)
    {
        destination = default;
        port = 0;
        string host, portText;
        if (text.Contains('@')) { error = "user information in the authority"; return false; }
        if (text.StartsWith('['))
        {
            var close = text.IndexOf(']');
            if (close < 0) { error = "unclosed '[' in the authority"; return false; }
            host = text[..(close + 1)];
            portText = text[(close + 1)..];
            if (portText.Length > 0 && portText[0] != ':') { error = "junk after ']'"; return false; }
            portText = portText.Length > 0 ? portText[1..] : "";
        }
        else
        {
            var colon = text.LastIndexOf(':');
            host = colon >= 0 ? text[..colon] : text;
            portText = colon >= 0 ? text[(colon + 1)..] : "";
        }
        if (portText.Length == 0)
        {
            if (defaultPort is null) { error = "no port (CONNECT needs host:port)"; return false; }
            port = defaultPort.Value;
        }
        else if (portText.Length > 5 || !portText.All(char.IsAsciiDigit) || (port = int.Parse(portText)) is < 1 or > 65535)
        {
            error = $"bad port '{Refusal.Printable(portText)}'";
            return false;
        }
        if (host.Length == 0) { error = "empty host"; return false; }
        if (!Destination.TryParse(host, out destination, out error)) { error = $"host '{Refusal.Printable(host)}': {error}"; return false; }
        error = null;
        return true;
    }

    /// <summary>The text a destination is compared and logged by: the normalized name, or the canonical address.</summary>
    public static string NameOf(in Destination destination) => destination.Host ?? IpBits.Canonical(destination.Address!).ToString();

    /// <summary>
    /// Splits an absolute-form request target ("http://host[:port]/path?query") into its authority and origin-form;
    /// false when the target is not absolute-form. Only the scheme prefix decides: a "://" in a path or query is data.
    /// </summary>
    public static bool TrySplitAbsolute(string target, out string scheme, out string authority, out string originForm)
    {
        scheme = authority = originForm = "";
        var colon = target.IndexOf("://", StringComparison.Ordinal);
        if (colon <= 0) return false;
        scheme = target[..colon].ToLowerInvariant();
        if (scheme is not ("http" or "https")) return false;
        var rest = target[(colon + 3)..];
        var end = rest.IndexOfAny(['/', '?', '#']);
        authority = end >= 0 ? rest[..end] : rest;
        originForm = end >= 0 ? rest[end..] : "/";
        if (originForm.StartsWith('?')) originForm = "/" + originForm;
        var hash = originForm.IndexOf('#');
        if (hash >= 0) originForm = originForm[..hash];
        return true;
    }
}

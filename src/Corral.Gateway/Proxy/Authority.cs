using Corral.Policy.Compilation;

namespace Corral.Gateway.Proxy;

/// <summary>Parses "host:port" as a CONNECT target or URL authority: the host (name or IP literal in any spelling) and the port.</summary>
internal static class Authority
{
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
            error = $"bad port '{Http.HttpHeadParser.Printable(portText)}'";
            return false;
        }
        if (host.Length == 0) { error = "empty host"; return false; }
        if (!Destination.TryParse(host, out destination, out error)) { error = $"host '{Http.HttpHeadParser.Printable(host)}': {error}"; return false; }
        error = null;
        return true;
    }
}

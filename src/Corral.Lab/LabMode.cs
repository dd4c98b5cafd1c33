namespace Corral.Lab;

/// <summary>How the agent reaches the gateway in a pass of the lab.</summary>
public enum LabMode
{
    /// <summary>HTTPS_PROXY: the agent sends CONNECT (or proxied requests) to the gateway's explicit listener.</summary>
    Explicit,
    /// <summary>No proxy settings: the agent's route leads through the gateway, which iptables REDIRECT hands every TCP connection to.</summary>
    Transparent,
}

/// <summary>Which passes `corral lab --mode` asks for.</summary>
public enum LabModes { Both, Explicit, Transparent }

/// <summary>Names of modes as the report and the command line write them.</summary>
public static class LabModeNames
{
    public static string Name(this LabMode mode) => mode == LabMode.Explicit ? "explicit" : "transparent";

    public static IReadOnlyList<LabMode> Passes(this LabModes modes) => modes switch
    {
        LabModes.Explicit => [LabMode.Explicit],
        LabModes.Transparent => [LabMode.Transparent],
        _ => [LabMode.Explicit, LabMode.Transparent],
    };

    public static bool TryParse(string text, out LabModes modes)
    {
        modes = text switch { "both" => LabModes.Both, "explicit" => LabModes.Explicit, "transparent" => LabModes.Transparent, _ => (LabModes)(-1) };
        return Enum.IsDefined(modes);
    }
}

using Corral.Policy.Templates;

namespace Corral.Testing;

/// <summary>
/// <c>corral gateway</c> as a real child process in a temp folder that holds the Foundry pack (enforced, agent subnet
/// on loopback) and a hosts file, with loopback as the public stand-in. The test project references src/Corral.Cli.
/// </summary>
public static class GatewayProcess
{
    /// <summary>A temp folder with the Foundry pack as p.yaml and a hosts file (which also names exfil.attacker.test, a denied destination).</summary>
    public static string NewFolder(string hosts)
    {
        var folder = Directory.CreateTempSubdirectory("corral-gw-proc-").FullName;
        FoundryPack.WriteTo(folder, "p.yaml", new AzureFoundryOptions { AgentSubnet = "127.0.0.0/8", Watch = false });
        File.WriteAllText(Path.Combine(folder, "hosts"), hosts + "127.0.0.2 exfil.attacker.test\n");
        return folder;
    }

    /// <summary>Starts <c>corral gateway p.yaml --hosts hosts --public-standin 127.0.0.0/8</c> plus <paramref name="args"/> in <paramref name="folder"/>.</summary>
    /// <param name="ownsFolder">Delete the folder on dispose (false when a later process reads what this one wrote).</param>
    /// <param name="environment">Variables to set for it (a null value removes one).</param>
    public static ChildProcess Start(string folder, IEnumerable<string> args, int? openFileLimit = null, bool ownsFolder = true, IReadOnlyDictionary<string, string?>? environment = null) =>
        CorralProgram.Start(["gateway", "p.yaml", "--hosts", "hosts", "--public-standin", "127.0.0.0/8", .. args], folder, ownsFolder, openFileLimit, environment);
}

using System.Net;
using System.Security.Cryptography;
using System.Text;
using Corral.Policy.Addressing;

namespace Corral.Lab.Namespaces;

/// <summary>
/// The transparent pass's network, built from network namespaces the lab creates and torn down when disposed:
/// <code>
///   agent ns   10.20.k.2/30 ── veth ── 10.20.k.1  host: the gateway. Every TCP connection arriving on this veth is
///                                                  REDIRECTed to its transparent listener; nothing is forwarded.
///   internet ns 198.19.k.2–7 ── veth ── 198.19.k.1  host (the gateway dials the stand-ins from here)
///   spoke ns   10.30.k.5/24 ── veth ── 10.30.k.1   host
/// </code>
/// The agent's default route leads to the gateway, as an Azure UDR sends a spoke's traffic to the hub's firewall, and it
/// can reach nothing except through it. The host keeps only the three veth ends (they vanish with the namespaces) and
/// two iptables rules on the agent's veth, tagged with the run's name. Everything is named crlab-PID-XXXXXX, so a
/// later run can sweep what a crashed one left behind (<see cref="SweepAsync"/>).
/// </summary>
internal sealed class LabTopology : IAsyncDisposable
{
    public const string Prefix = "crlab-";

    private readonly Stack<string[]> _undo = new();
    private readonly List<string> _cleanupErrors = [];
    private readonly string _hex;
    private int _disposed;

    private LabTopology(int k, string hex)
    {
        _hex = hex;
        RunName = $"{Prefix}{Environment.ProcessId}-{hex}";
        Agent = new NetworkNamespace($"{RunName}-agent");
        Internet = new NetworkNamespace($"{RunName}-inet");
        Spoke = new NetworkNamespace($"{RunName}-spoke");
        Network = LabNetwork.Namespaces(k);
        GatewayAddress = IPAddress.Parse($"10.20.{k}.1");
        AgentAddress = IPAddress.Parse($"10.20.{k}.2");
    }

    /// <summary>This run's name: the prefix of its namespaces and the comment on its iptables rules.</summary>
    public string RunName { get; }
    public NetworkNamespace Agent { get; }
    public NetworkNamespace Internet { get; }
    public NetworkNamespace Spoke { get; }
    public LabNetwork Network { get; }

    /// <summary>The host's end of the agent's link: the agent's default gateway, where the transparent listener binds.</summary>
    public IPAddress GatewayAddress { get; }
    public IPAddress AgentAddress { get; }

    /// <summary>The host-side interface of the agent's link (where the REDIRECT rule matches).</summary>
    public string AgentLink => $"cl{_hex}a";
    private string InternetLink => $"cl{_hex}i";
    private string SpokeLink => $"cl{_hex}s";

    /// <summary>What went wrong while tearing down, if anything (reported, never thrown).</summary>
    public IReadOnlyList<string> CleanupErrors => _cleanupErrors;

    /// <summary>Builds the namespaces, links and addresses; on any failure removes what it made and throws <see cref="LabSetupException"/>.</summary>
    public static async Task<LabTopology> CreateAsync(CancellationToken ct)
    {
        // Choosing free ranges and claiming them is one step across processes (two labs, or a lab and its tests).
        await using var hold = await HostLock.AcquireAsync(ct);
        var routed = await RoutedPrefixesAsync();
        var k = Enumerable.Range(1, 254).OrderBy(_ => RandomNumberGenerator.GetInt32(int.MaxValue))
            .FirstOrDefault(c => !Candidates(c).Any(p => routed.Any(r => r.Contains(p) || p.Contains(r))));
        if (k == 0)
            throw new LabSetupException("every candidate for the lab's ranges (10.20.k.0/30, 198.19.k.0/24, 10.30.k.0/24) overlaps a route this host has; " +
                                        "the lab will not shadow the host's networks", machineCannot: true);
        var topology = new LabTopology(k, RandomNumberGenerator.GetHexString(6, lowercase: true));
        try
        {
            await topology.BuildAsync(k);
        }
        catch
        {
            await topology.DisposeAsync();
            throw;
        }
        return topology;
    }

    // The ranges a run with this k puts on the host: none may overlap a route the host already has.
    private static IEnumerable<IpPrefix> Candidates(int k) =>
        new[] { $"10.20.{k}.0/30", $"198.19.{k}.0/24", $"10.30.{k}.0/24" }.Select(s => IpPrefix.TryParse(s, out var p, out _) ? p : throw new InvalidOperationException(s));

    private async Task BuildAsync(int k)
    {
        foreach (var ns in new[] { Agent, Internet, Spoke })
        {
            await HostCommand.RunCheckedAsync("ip", ["netns", "add", ns.Name]);
            _undo.Push(["ip", "netns", "del", ns.Name]);
        }
        (string Link, NetworkNamespace Ns, string HostAddress)[] links =
            [(AgentLink, Agent, $"{GatewayAddress}/30"), (InternetLink, Internet, $"198.19.{k}.1/24"), (SpokeLink, Spoke, $"10.30.{k}.1/24")];
        foreach (var l in links) _undo.Push(["ip", "link", "del", l.Link]); // also gone with the namespace; this is for a half-built run
        await IpBatchAsync(null, links.SelectMany(l => new[]
        {
            $"link add {l.Link} type veth peer name veth0 netns {l.Ns.Name}",
            $"addr add {l.HostAddress} dev {l.Link}",
            $"link set {l.Link} up",
        }));
        await IpBatchAsync(Agent, [$"addr add {AgentAddress}/30 dev veth0", "link set veth0 up", "link set lo up", $"route add default via {GatewayAddress}"]);
        await IpBatchAsync(Internet, LabHosts.HttpsStandIns.Select(s => $"addr add {Network.AddressOf(s)}/24 dev veth0").Append("link set veth0 up"));
        await IpBatchAsync(Spoke, [$"addr add {Network.SpokeHost}/24 dev veth0", "link set veth0 up"]);
    }

    /// <summary>
    /// Sends every TCP connection the agent makes to the gateway's transparent listener (iptables REDIRECT keeps the
    /// original destination for SO_ORIGINAL_DST), and drops anything else the agent sends through the host.
    /// </summary>
    public async Task RedirectAgentTcpAsync(int listenerPort)
    {
        string[] redirect = ["-t", "nat", "PREROUTING", "-i", AgentLink, "-p", "tcp", "-m", "comment", "--comment", RunName, "-j", "REDIRECT", "--to-ports", listenerPort.ToString()];
        string[] drop = ["FORWARD", "-i", AgentLink, "-m", "comment", "--comment", RunName, "-j", "DROP"];
        await HostCommand.RunCheckedAsync("iptables", ["-w", .. Insert(redirect, "-A")]);
        _undo.Push(["iptables", "-w", .. Insert(redirect, "-D")]);
        await HostCommand.RunCheckedAsync("iptables", ["-w", "-I", drop[0], "1", .. drop[1..]]);
        _undo.Push(["iptables", "-w", "-D", .. drop]);
    }

    // Puts the verb (-A/-D) before the chain, after an optional "-t TABLE".
    private static string[] Insert(string[] rule, string verb) => rule[0] == "-t" ? [rule[0], rule[1], verb, .. rule[2..]] : [verb, .. rule];

    private static Task IpBatchAsync(NetworkNamespace? ns, IEnumerable<string> commands) =>
        HostCommand.RunCheckedAsync("ip", ns is null ? ["-batch", "-"] : ["-n", ns.Name, "-batch", "-"], string.Join("\n", commands) + "\n");

    /// <summary>Removes the rules, links and namespaces in reverse order; records (never throws) what could not be removed.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        while (_undo.TryPop(out var command))
        {
            var result = await HostCommand.RunAsync(command[0], command[1..]);
            // A link already gone with its namespace is fine; anything else is worth saying.
            if (!result.Succeeded && !(command[1] == "link" && result.Output.Contains("Cannot find device")))
                _cleanupErrors.Add($"{string.Join(' ', command)}: {result.Output}");
        }
    }

    /// <summary>
    /// Removes what earlier runs left behind when their process is gone (a crash, a kill -9): namespaces named
    /// crlab-PID-… and iptables rules commented so, for a PID that no longer runs. Live runs are left alone.
    /// </summary>
    public static async Task<IReadOnlyList<string>> SweepAsync()
    {
        var removed = new List<string>();
        var list = await HostCommand.RunAsync("ip", ["netns", "list"]);
        foreach (var name in list.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')[0]))
            if (IsStale(name) && (await HostCommand.RunAsync("ip", ["netns", "del", name])).Succeeded)
                removed.Add($"namespace {name}");
        foreach (var (table, chain) in new[] { ("nat", "PREROUTING"), ("filter", "FORWARD") })
        {
            var rules = await HostCommand.RunAsync("iptables", ["-w", "-t", table, "-S", chain]);
            foreach (var line in rules.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                var words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(w => w.Trim('"')).ToArray();
                var at = Array.IndexOf(words, "--comment");
                if (words.Length < 2 || words[0] != "-A" || at < 0 || at + 1 >= words.Length || !IsStale(words[at + 1])) continue;
                if ((await HostCommand.RunAsync("iptables", ["-w", "-t", table, "-D", .. words[1..]])).Succeeded)
                    removed.Add($"iptables {table} rule {string.Join(' ', words[1..])}");
            }
        }
        return removed;
    }

    /// <summary>A name of this lab's (crlab-PID-…) whose process no longer runs.</summary>
    internal static bool IsStale(string name)
    {
        if (!name.StartsWith(Prefix, StringComparison.Ordinal)) return false;
        var rest = name.AsSpan(Prefix.Length);
        var dash = rest.IndexOf('-');
        return dash > 0 && int.TryParse(rest[..dash], out var pid) && pid > 0 && pid != Environment.ProcessId && !Directory.Exists($"/proc/{pid}");
    }

    /// <summary>Every IPv4 prefix the host routes now (all tables), to keep the lab's ranges clear of them.</summary>
    private static async Task<IReadOnlyList<IpPrefix>> RoutedPrefixesAsync()
    {
        var routes = await HostCommand.RunCheckedAsync("ip", ["-4", "-o", "route", "show", "table", "all"]);
        string[] types = ["local", "broadcast", "unicast", "unreachable", "blackhole", "prohibit", "throw", "multicast", "anycast", "nat"];
        var prefixes = new List<IpPrefix>();
        foreach (var line in routes.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var target = words.Length > 1 && types.Contains(words[0]) ? words[1] : words[0];
            if (target != "default" && IpPrefix.TryParse(target, out var prefix, out _)) prefixes.Add(prefix);
        }
        return prefixes;
    }

    /// <summary>An exclusive lock shared by every lab process on this host, held while a run picks and claims its ranges.</summary>
    private sealed class HostLock(FileStream file) : IAsyncDisposable
    {
        public static async Task<HostLock> AcquireAsync(CancellationToken ct)
        {
            // Beside iptables' own /run/xtables.lock: the transparent pass runs as root, and /run is emptied at boot.
            var path = "/run/corral-lab.lock";
            for (var attempt = 0; ; attempt++)
            {
                try
                {
                    // FileShare.None takes an exclusive flock on Linux: another process (or run) waits here.
                    return new HostLock(new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None));
                }
                catch (IOException) when (attempt < 600)
                {
                    await Task.Delay(50, ct);
                }
            }
        }

        public ValueTask DisposeAsync() => file.DisposeAsync();
    }

    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.Append($"agent {AgentAddress} in {Agent.Name} (default route via the gateway {GatewayAddress}), ");
        sb.Append($"internet {Network.AddressOf(LabHosts.Mcp)}-{Network.AddressOf(LabHosts.RogueRegistry).GetAddressBytes()[3]} in {Internet.Name}, ");
        sb.Append($"spoke {Network.SpokeHost} in {Spoke.Name}");
        return sb.ToString();
    }
}

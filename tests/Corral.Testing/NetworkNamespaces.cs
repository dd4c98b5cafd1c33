namespace Corral.Testing;

/// <summary>
/// A network topology a test builds on this host: namespaces, veth links from the root namespace into them, iptables
/// rules, per-namespace resolv.conf files and programs running inside. Everything is undone in reverse order on
/// dispose, and a machine that cannot build it makes the test a skip that says why.
/// </summary>
public sealed class NetworkNamespaces : IAsyncDisposable
{
    private readonly Stack<string[]> _undo = new();
    private readonly List<ChildProcess> _programs = [];
    private int _namespaces;

    /// <summary>Skips the test unless it runs as root with every one of <paramref name="programs"/> installed.</summary>
    public static void SkipUnlessRootWith(params string[] programs)
    {
        var missing = programs.Where(p => !ProcessRunner.IsInstalled(p)).ToArray();
        if (missing.Length > 0 || Environment.UserName != "root")
            Assert.Skip($"needs root and {string.Join(", ", missing.DefaultIfEmpty("nothing else"))}");
    }

    /// <summary>Creates a namespace (deleted on dispose); when the host refuses the first one, the test is skipped.</summary>
    public async Task AddAsync(string name)
    {
        var (code, stdout, stderr) = await ProcessRunner.RunAsync("ip", "netns", "add", name);
        if (code != 0)
        {
            if (_namespaces == 0) Assert.Skip("cannot create network namespaces here (no CAP_SYS_ADMIN?)");
            throw new InvalidOperationException($"ip netns add {name} failed ({code}): {stderr}{stdout}");
        }
        _namespaces++;
        _undo.Push(["ip", "netns", "del", name]);
    }

    /// <summary>
    /// A veth pair from the root namespace into <paramref name="ns"/>: both ends addressed and up, the namespace's
    /// loopback up, and (when given) the namespace's default route via <paramref name="defaultVia"/>.
    /// </summary>
    public async Task LinkAsync(string ns, string rootEnd, string nsEnd, string rootCidr, string nsCidr, string? defaultVia = null)
    {
        await ProcessRunner.MustRunAsync("ip", "link", "add", rootEnd, "type", "veth", "peer", "name", nsEnd, "netns", ns);
        _undo.Push(["ip", "link", "del", rootEnd]);
        await ProcessRunner.MustRunAsync("ip", "addr", "add", rootCidr, "dev", rootEnd);
        await ProcessRunner.MustRunAsync("ip", "link", "set", rootEnd, "up");
        await MustExecAsync(ns, "ip", "addr", "add", nsCidr, "dev", nsEnd);
        await MustExecAsync(ns, "ip", "link", "set", nsEnd, "up");
        await LoopbackUpAsync(ns);
        if (defaultVia is not null) await MustExecAsync(ns, "ip", "route", "add", "default", "via", defaultVia);
    }

    /// <summary>Adds <paramref name="cidr"/> to <paramref name="device"/> in the root namespace (removed on dispose).</summary>
    public async Task AddAddressAsync(string device, string cidr)
    {
        await ProcessRunner.MustRunAsync("ip", "addr", "add", cidr, "dev", device);
        _undo.Push(["ip", "addr", "del", cidr, "dev", device]);
    }

    public Task LoopbackUpAsync(string ns) => MustExecAsync(ns, "ip", "link", "set", "lo", "up");

    /// <summary>Appends an iptables rule to <paramref name="chain"/> of <paramref name="table"/> (deleted on dispose).</summary>
    public async Task AddRuleAsync(string table, string chain, params string[] rule)
    {
        await ProcessRunner.MustRunAsync("iptables", ["-t", table, "-A", chain, .. rule]);
        _undo.Push(["iptables", "-t", table, "-D", chain, .. rule]);
    }

    /// <summary>The resolv.conf that <c>ip netns exec</c> binds into <paramref name="ns"/> (/etc/netns/NS/resolv.conf), removed on dispose.</summary>
    public void SetResolver(string ns, string resolvConf)
    {
        if (!Directory.Exists("/etc/netns")) _undo.Push(["rmdir", "/etc/netns"]); // only when empty: another test's files stay
        var folder = Path.Combine("/etc/netns", ns);
        Directory.CreateDirectory(folder);
        _undo.Push(["rm", "-rf", folder]);
        File.WriteAllText(Path.Combine(folder, "resolv.conf"), resolvConf);
    }

    /// <summary>Runs a command inside <paramref name="ns"/> to its end.</summary>
    public static Task<ProcessResult> ExecAsync(string ns, params string[] command) => ProcessRunner.RunAsync("ip", ["netns", "exec", ns, .. command]);

    /// <summary>Starts a long-running program inside <paramref name="ns"/>; it is stopped before the topology is taken down.</summary>
    public ChildProcess Start(string ns, params string[] command)
    {
        var program = ChildProcess.Start("ip", ["netns", "exec", ns, .. command]);
        _programs.Add(program);
        return program;
    }

    private static Task MustExecAsync(string ns, params string[] command) => ProcessRunner.MustRunAsync("ip", ["netns", "exec", ns, .. command]);

    public async ValueTask DisposeAsync()
    {
        foreach (var program in Enumerable.Reverse(_programs)) await program.DisposeAsync();
        while (_undo.TryPop(out var command)) await ProcessRunner.SucceedsAsync(command[0], command[1..]);
    }
}

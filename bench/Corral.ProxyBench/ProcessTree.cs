namespace Corral.ProxyBench;

/// <summary>
/// Resident memory (VmRSS) and CPU time of a process and all its descendants, read from /proc: Squid's workers and
/// helpers count towards Squid, the dotnet host towards Corral.
/// </summary>
static class ProcessTree
{
    public static List<int> WithDescendants(int root)
    {
        var parents = new Dictionary<int, int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                parents[pid] = int.Parse(fields[1]);
            }
            catch (IOException) { } // the process ended meanwhile
            catch (UnauthorizedAccessException) { }
        }
        var tree = new List<int> { root };
        for (var i = 0; i < tree.Count; i++)
            foreach (var (pid, parent) in parents)
                if (parent == tree[i]) tree.Add(pid);
        return tree;
    }

    /// <summary>Sum of VmRSS over the tree, in KiB.</summary>
    public static long RssKiB(int root) => WithDescendants(root).Sum(pid => ReadStatusKiB(pid, "VmRSS:"));

    /// <summary>Sum of user + system CPU time over the tree, in seconds.</summary>
    public static double CpuSeconds(int root)
    {
        var ticks = 0L;
        foreach (var pid in WithDescendants(root))
        {
            try
            {
                var stat = File.ReadAllText($"/proc/{pid}/stat");
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                ticks += long.Parse(fields[11]) + long.Parse(fields[12]); // utime, stime (fields 14, 15 of stat)
            }
            catch (IOException) { }
        }
        return ticks / 100.0; // USER_HZ is 100 on Linux
    }

    /// <summary>
    /// Context switches (voluntary and involuntary) of every thread over the tree: each is a sleep and a wake-up, which
    /// on a small shared machine costs more than most of the work between them. Threads that ended are not counted.
    /// </summary>
    public static long ContextSwitches(int root)
    {
        var total = 0L;
        foreach (var pid in WithDescendants(root))
        {
            IEnumerable<string> tasks;
            try { tasks = Directory.EnumerateDirectories($"/proc/{pid}/task").ToList(); }
            catch (IOException) { continue; }
            foreach (var task in tasks)
            {
                try
                {
                    foreach (var line in File.ReadLines(Path.Combine(task, "status")))
                        if (line.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal) || line.StartsWith("nonvoluntary_ctxt_switches:", StringComparison.Ordinal))
                            total += long.Parse(line.AsSpan(line.IndexOf(':') + 1).Trim());
                }
                catch (IOException) { } // the thread ended meanwhile
            }
        }
        return total;
    }

    private static long ReadStatusKiB(int pid, string key)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
                if (line.StartsWith(key, StringComparison.Ordinal))
                    return long.Parse(line.AsSpan(key.Length).Trim().TrimEnd("kB").Trim());
        }
        catch (IOException) { }
        return 0;
    }
}

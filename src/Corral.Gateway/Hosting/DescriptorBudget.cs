using System.Runtime.InteropServices;

namespace Corral.Gateway.Hosting;

/// <summary>
/// How many connections the process's open-file limit (RLIMIT_NOFILE) can carry: each connection may hold
/// <see cref="PerConnection"/> descriptors, and <see cref="Reserve"/> more are kept for the gateway itself (flow-log
/// rotation, policy reloads, the admin server, refusing the connections over the limit). Past this limit accept(2)
/// fails with EMFILE, and the runtime itself fails once it cannot open a file.
/// </summary>
internal sealed partial record DescriptorBudget(ulong SoftLimit, ulong HardLimit, int OpenAtStart, int SafeConnections)
{
    /// <summary>Client socket, upstream socket, and a kernel pipe (two descriptors) per direction while splicing.</summary>
    public const int PerConnection = 6;

    public const int Reserve = 64;

    /// <summary>The budget of this process now; null where the limit cannot be read (not Linux).</summary>
    public static DescriptorBudget? OfThisProcess()
    {
        if (!OperatingSystem.IsLinux()) return null;
        Span<ulong> limit = stackalloc ulong[2];
        if (getrlimit(RlimitNofile, ref MemoryMarshal.GetReference(limit)) != 0) return null;
        var open = Directory.GetFiles("/proc/self/fd").Length;
        return For(limit[0], limit[1], open);
    }

    /// <summary>The budget for a soft limit with <paramref name="open"/> descriptors already open.</summary>
    public static DescriptorBudget For(ulong soft, ulong hard, int open)
    {
        var spare = (long)Math.Min(soft, int.MaxValue) - open - Reserve;
        return new DescriptorBudget(soft, hard, open, (int)Math.Max(1, spare / PerConnection));
    }

    private const int RlimitNofile = 7;

    [LibraryImport("libc", EntryPoint = "getrlimit", SetLastError = true)]
    private static partial int getrlimit(int resource, ref ulong limits);
}

using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;

namespace Corral.Lab.Namespaces;

/// <summary>
/// A named network namespace (/run/netns/NAME, as `ip netns add` makes it) in which the lab opens sockets without
/// moving its process: a short-lived thread enters the namespace with setns(2), creates the socket and leaves. A
/// socket belongs to the namespace it was created in for its whole life, whichever thread uses it afterwards, so
/// the agent's connections and the stand-ins' listeners live in their namespaces while the lab's code runs as usual.
/// </summary>
internal sealed class NetworkNamespace(string name)
{
    private const int CloneNewNet = 0x40000000, ORdOnly = 0, OCloExec = 0x80000;

    public string Name { get; } = name;

    public string HandlePath => $"/run/netns/{Name}";

    /// <summary>A new TCP socket of the given family inside this namespace.</summary>
    public Socket CreateTcpSocket(AddressFamily family = AddressFamily.InterNetwork) => CreateSocket(family, SocketType.Stream, ProtocolType.Tcp);

    /// <summary>A new UDP socket of the given family inside this namespace.</summary>
    public Socket CreateUdpSocket(AddressFamily family = AddressFamily.InterNetwork) => CreateSocket(family, SocketType.Dgram, ProtocolType.Udp);

    private Socket CreateSocket(AddressFamily family, SocketType type, ProtocolType protocol)
    {
        Socket? socket = null;
        Exception? error = null;
        // A dedicated thread (never a pooled one): it changes namespace, so it must end right after.
        var thread = new Thread(() =>
        {
            try { socket = CreateInside(family, type, protocol); }
            catch (Exception e) { error = e; }
        }) { IsBackground = true, Name = $"netns {Name}" };
        thread.Start();
        thread.Join();
        return socket ?? throw new LabSetupException($"cannot open a socket in network namespace {Name}: {error?.Message}");
    }

    private Socket CreateInside(AddressFamily family, SocketType type, ProtocolType protocol)
    {
        var home = Open("/proc/thread-self/ns/net");
        try
        {
            var target = Open(HandlePath);
            try
            {
                if (setns(target, CloneNewNet) != 0) throw new IOException($"setns({HandlePath}) failed: errno {Marshal.GetLastPInvokeError()}");
            }
            finally { _ = close(target); } // a read-only namespace handle: nothing to lose if close fails
            try
            {
                return new Socket(family, type, protocol);
            }
            finally
            {
                // Back home; should that ever fail, the thread ends here anyway and nothing else runs on it.
                _ = setns(home, CloneNewNet);
            }
        }
        finally { _ = close(home); }
    }

    private static int Open(string path)
    {
        var fd = open(Encoding.UTF8.GetBytes(path + "\0"), ORdOnly | OCloExec);
        return fd >= 0 ? fd : throw new IOException($"cannot open {path}: errno {Marshal.GetLastPInvokeError()}");
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int setns(int fd, int nstype);

    [DllImport("libc", SetLastError = true)]
    private static extern int open(byte[] path, int flags);

    [DllImport("libc", SetLastError = true)]
    private static extern int close(int fd);
}

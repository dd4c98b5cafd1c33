using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Corral.Cli;

namespace Corral.Gateway.Tests.Support;

/// <summary>
/// <c>corral gateway</c> as a real child process (optionally under a lower open-file limit, set by the shell's
/// <c>ulimit -n</c> before exec), with its log collected, in a temp folder that holds the Foundry pack (agent subnet
/// on loopback) and a hosts file. Killed and cleaned up on dispose.
/// </summary>
public sealed class GatewayProcess : IAsyncDisposable
{
    private readonly StringBuilder _output = new();
    private int _lines;

    private readonly bool _ownsFolder;

    private GatewayProcess(Process process, string folder, bool ownsFolder)
    {
        _ownsFolder = ownsFolder;
        Process = process;
        Folder = folder;
        process.ErrorDataReceived += (_, e) => Collect(e.Data);
        process.OutputDataReceived += (_, e) => Collect(e.Data);
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
    }

    public Process Process { get; }
    public string Folder { get; }

    /// <summary>Everything it logged so far.</summary>
    public string Output { get { lock (_output) return _output.ToString(); } }

    /// <summary>How many log lines it wrote so far.</summary>
    public int Lines => Volatile.Read(ref _lines);

    private void Collect(string? line)
    {
        if (line is null) return;
        Interlocked.Increment(ref _lines);
        lock (_output) if (_output.Length < 4 * 1024 * 1024) _output.AppendLine(line);
    }

    /// <summary>A temp folder with the Foundry pack as p.yaml and a hosts file (which also names exfil.attacker.test, a denied destination).</summary>
    public static string NewFolder(string hosts)
    {
        var folder = Directory.CreateTempSubdirectory("corral-gw-proc-").FullName;
        var output = new StringWriter();
        Assert.Equal(0, CorralCommand.Run(["init", "--template", "azure-foundry", "-o", Path.Combine(folder, "p.yaml"), "--agent-subnet", "127.0.0.0/8"], output, output));
        File.WriteAllText(Path.Combine(folder, "hosts"), hosts + "127.0.0.2 exfil.attacker.test\n");
        return folder;
    }

    /// <summary>Starts <c>corral gateway p.yaml --hosts hosts --public-standin 127.0.0.0/8</c> plus <paramref name="args"/> in <paramref name="folder"/>.</summary>
    /// <param name="ownsFolder">Delete the folder on dispose (false when a later process reads what this one wrote).</param>
    public static GatewayProcess Start(string folder, IEnumerable<string> args, int? openFileLimit = null, bool ownsFolder = true)
    {
        var corral = Path.Combine(AppContext.BaseDirectory, "corral.dll");
        var command = new List<string> { "dotnet", corral, "gateway", "p.yaml", "--hosts", "hosts", "--public-standin", "127.0.0.0/8" };
        command.AddRange(args);
        ProcessStartInfo info;
        if (openFileLimit is { } limit)
        {
            info = new ProcessStartInfo("bash");
            foreach (var a in new[] { "-c", $"ulimit -n {limit} && exec \"$@\"", "bash" }) info.ArgumentList.Add(a);
        }
        else
        {
            info = new ProcessStartInfo(command[0]);
            command.RemoveAt(0);
        }
        foreach (var a in command) info.ArgumentList.Add(a);
        info.RedirectStandardError = true;
        info.RedirectStandardOutput = true;
        info.UseShellExecute = false;
        info.WorkingDirectory = folder;
        return new GatewayProcess(Process.Start(info)!, folder, ownsFolder);
    }

    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    /// <summary>Waits until <paramref name="port"/> on 127.0.0.1 accepts (fails if the process exits first).</summary>
    public Task WaitForPortAsync(int port) => WaitForPortAsync(port, Process, () => Output);

    /// <summary>Waits until <paramref name="port"/> on 127.0.0.1 accepts, failing with <paramref name="output"/> if <paramref name="process"/> exits first.</summary>
    public static async Task WaitForPortAsync(int port, Process process, Func<string> output)
    {
        for (var i = 0; i < 300; i++)
        {
            if (process.HasExited) throw new InvalidOperationException($"corral gateway exited {process.ExitCode}: {output()}");
            try
            {
                using var c = new TcpClient();
                await c.ConnectAsync(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException) { await Task.Delay(100); }
        }
        throw new TimeoutException($"corral gateway did not listen on {port}: {output()}");
    }

    /// <summary>Sends a signal (TERM, KILL) to the gateway.</summary>
    public async Task SignalAsync(string signal) =>
        Assert.Equal(0, (await CommandLine.RunAsync("kill", $"-{signal}", Process.Id.ToString())).ExitCode);

    /// <summary>Waits for the exit and returns the exit code.</summary>
    public async Task<int> WaitForExitAsync(int seconds = 60)
    {
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        await Process.WaitForExitAsync(wait.Token);
        return Process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (!Process.HasExited)
        {
            Process.Kill();
            await Process.WaitForExitAsync();
        }
        Process.Dispose();
        if (_ownsFolder)
            try { Directory.Delete(Folder, recursive: true); } catch (IOException) { }
    }
}

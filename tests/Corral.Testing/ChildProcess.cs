using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Corral.Testing;

/// <summary>
/// A long-running program the test started (a gateway, a lab run, a server inside a namespace), optionally under a
/// lower open-file limit (set by the shell's <c>ulimit -n</c> before exec), with everything it prints collected.
/// Killed with its children on dispose, and its working folder deleted when the test handed it over.
/// </summary>
public sealed class ChildProcess : IAsyncDisposable
{
    private readonly StringBuilder _output = new();
    private readonly string _name;
    private readonly string? _ownedFolder;
    private int _lines;

    private ChildProcess(Process process, string name, string? folder, bool ownsFolder)
    {
        Process = process;
        Folder = folder;
        _name = name;
        _ownedFolder = ownsFolder ? folder : null;
        process.ErrorDataReceived += (_, e) => Collect(e.Data);
        process.OutputDataReceived += (_, e) => Collect(e.Data);
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
    }

    public Process Process { get; }
    public int Id => Process.Id;

    /// <summary>Its working folder, when it was started in one.</summary>
    public string? Folder { get; }

    /// <summary>Everything it printed so far (standard output and error, interleaved as they arrived).</summary>
    public string Output { get { lock (_output) return _output.ToString(); } }

    /// <summary>How many lines it printed so far.</summary>
    public int Lines => Volatile.Read(ref _lines);

    /// <param name="workingDirectory">Where it runs.</param>
    /// <param name="ownsFolder">Delete <paramref name="workingDirectory"/> on dispose.</param>
    /// <param name="openFileLimit">Run under <c>ulimit -n</c> of this.</param>
    /// <param name="environment">Variables to set (a null value removes one) on top of this process's environment.</param>
    public static ChildProcess Start(string program, IEnumerable<string> args, string? workingDirectory = null, bool ownsFolder = false, int? openFileLimit = null,
        IReadOnlyDictionary<string, string?>? environment = null)
    {
        var command = new List<string> { program };
        command.AddRange(args);
        ProcessStartInfo info;
        if (openFileLimit is { } limit)
        {
            info = new ProcessStartInfo("bash");
            foreach (var a in new[] { "-c", $"ulimit -n {limit} && exec \"$@\"", "bash" }) info.ArgumentList.Add(a);
        }
        else
        {
            info = new ProcessStartInfo(program);
            command.RemoveAt(0);
        }
        foreach (var a in command) info.ArgumentList.Add(a);
        info.RedirectStandardError = true;
        info.RedirectStandardOutput = true;
        info.UseShellExecute = false;
        if (workingDirectory is not null) info.WorkingDirectory = workingDirectory;
        foreach (var (variable, value) in environment ?? new Dictionary<string, string?>())
            if (value is null) info.Environment.Remove(variable);
            else info.Environment[variable] = value;
        var name = string.Join(' ', args.Prepend(program).Where(a => !a.EndsWith(".dll", StringComparison.Ordinal)).Take(3));
        return new ChildProcess(Process.Start(info)!, name, workingDirectory, ownsFolder);
    }

    private void Collect(string? line)
    {
        if (line is null) return;
        Interlocked.Increment(ref _lines);
        lock (_output) if (_output.Length < 4 * 1024 * 1024) _output.AppendLine(line);
    }

    /// <summary>A port on 127.0.0.1 that nothing listens on right now.</summary>
    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    /// <summary>Waits until <paramref name="port"/> on 127.0.0.1 accepts (fails if the process exits first).</summary>
    public async Task WaitForPortAsync(int port)
    {
        for (var i = 0; i < 300; i++)
        {
            if (Process.HasExited) throw new InvalidOperationException($"{_name} exited {Process.ExitCode}: {Output}");
            try
            {
                using var c = new TcpClient();
                await c.ConnectAsync(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException) { await Task.Delay(100); }
        }
        throw new TimeoutException($"{_name} did not listen on {port}: {Output}");
    }

    /// <summary>Waits until it has printed <paramref name="text"/>; a <see cref="TimeoutException"/> after <paramref name="timeout"/>.</summary>
    public async Task WaitForOutputAsync(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!Output.Contains(text, StringComparison.Ordinal))
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{_name} did not print '{text}' within {timeout.TotalSeconds:0} s: {Output}");
            await Task.Delay(50);
        }
    }

    /// <summary>Sends a signal (TERM, INT, KILL).</summary>
    public async Task SignalAsync(string signal) =>
        Assert.Equal(0, (await ProcessRunner.RunAsync("kill", $"-{signal}", Process.Id.ToString())).ExitCode);

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
            Process.Kill(entireProcessTree: true);
            await Process.WaitForExitAsync();
        }
        Process.Dispose();
        if (_ownedFolder is not null)
            try { Directory.Delete(_ownedFolder, recursive: true); } catch (IOException) { }
    }
}

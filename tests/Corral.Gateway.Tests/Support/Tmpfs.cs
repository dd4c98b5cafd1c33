namespace Corral.Gateway.Tests.Support;
using Corral.Testing;

/// <summary>A small tmpfs the test mounts itself (root only), so a full disk is real and touches nothing else.</summary>
public sealed class Tmpfs : IAsyncDisposable
{
    public string Path { get; }

    private Tmpfs(string path) => Path = path;

    /// <summary>Mounts a tmpfs of <paramref name="kib"/> KiB, or reports (as a skip) why it cannot here.</summary>
    public static async Task<Tmpfs> MountAsync(int kib)
    {
        if (Environment.UserName != "root" || !ProcessRunner.IsInstalled("mount")) Assert.Skip("mounting a tmpfs needs root and mount(8)");
        var dir = Directory.CreateTempSubdirectory("corral-tmpfs-").FullName;
        var (code, _, error) = await ProcessRunner.RunAsync("mount", "-t", "tmpfs", "-o", $"size={kib}k,mode=0755", "tmpfs", dir);
        if (code != 0)
        {
            Directory.Delete(dir);
            Assert.Skip($"cannot mount a tmpfs here: {error.Trim()}");
        }
        return new Tmpfs(dir);
    }

    /// <summary>Fills the file system with one file until a write fails; returns that file.</summary>
    public string Fill()
    {
        var filler = System.IO.Path.Combine(Path, "filler");
        using var stream = new FileStream(filler, FileMode.Create, FileAccess.Write, FileShare.ReadWrite, bufferSize: 0);
        var block = new byte[4096];
        try
        {
            while (true) stream.Write(block);
        }
        catch (IOException) { }
        return filler;
    }

    public async ValueTask DisposeAsync()
    {
        await ProcessRunner.RunAsync("umount", "-l", Path);
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}

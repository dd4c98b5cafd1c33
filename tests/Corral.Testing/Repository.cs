namespace Corral.Testing;

/// <summary>Where the repository is, found from the test's own folder (the folder that holds Corral.slnx).</summary>
public static class Repository
{
    public static string Root { get; } = Find();

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Corral.slnx"))) return dir.FullName;
        throw new InvalidOperationException("cannot find the repository root (Corral.slnx) above " + AppContext.BaseDirectory);
    }
}

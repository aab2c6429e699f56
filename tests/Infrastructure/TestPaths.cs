namespace Sidecar.Tests.Infrastructure;

public static class TestPaths
{
    /// <summary>The repository root, found from the test binary's location.</summary>
    public static string RepositoryRoot { get; } = FindRoot();

    public static string AppsDirectory => Path.Combine(RepositoryRoot, "tests", "apps");

    /// <summary>The sidecar as built next to the tests (the project reference copies it here).</summary>
    public static string SidecarDll => Path.Combine(AppContext.BaseDirectory, "sidecar.dll");

    private static string FindRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Sidecar.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("Sidecar.sln not found above " + AppContext.BaseDirectory);
    }
}

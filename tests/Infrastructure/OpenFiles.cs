namespace Sidecar.Tests.Infrastructure;

/// <summary>What a process has open, read from /proc: the only trace of an unlinked spool file or an inotify instance.</summary>
public static class OpenFiles
{
    /// <summary>The targets of <paramref name="process"/>'s descriptors ("self" or a pid); one closed while listing is skipped.</summary>
    public static List<string> Of(string process) =>
        Directory.GetFiles($"/proc/{process}/fd")
            .Select(Target)
            .OfType<string>()
            .ToList();

    private static string? Target(string fd)
    {
        try
        {
            return new FileInfo(fd).LinkTarget;
        }
        catch (IOException)
        {
            return null;
        }
    }
}

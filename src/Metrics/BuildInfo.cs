using System.Reflection;

namespace Sidecar.Telemetry;

/// <summary>
/// Version and source commit as stamped into the assembly at build time: the SDK appends SourceRevisionId to the
/// informational version ("0.1.0+&lt;commit&gt;"). Builds from a git checkout get it automatically; builds
/// without .git (a container build context) pass <c>-p:SourceRevisionId=$(git rev-parse HEAD)</c>.
/// </summary>
internal static class BuildInfo
{
    public static (string Version, string Commit) Read()
    {
        var informational = typeof(BuildInfo).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "";
        return Split(informational);
    }

    internal static (string Version, string Commit) Split(string informational)
    {
        var plus = informational.IndexOf('+');
        return plus < 0
            ? (Fallback(informational), "unknown")
            : (Fallback(informational[..plus]), Fallback(informational[(plus + 1)..]));
    }

    private static string Fallback(string value) => value.Length == 0 ? "unknown" : value;
}
